using System.Security.Cryptography;
using BulkExport.Exporter.Formats;

namespace BulkExport.Exporter.Tests.Formats;

/// <summary>The row digests' SHA-256 (OpenSSL's plain functions) gives the framework's SHA-256 of every message.</summary>
public sealed class RowSha256Tests
{
    [Fact]
    public void OnLinux_OpenSslsFunctionsAreUsed()
    {
        // The exporter's image and CI are Linux with OpenSSL 3: the fast path must be the one measured.
        Assert.Equal(OperatingSystem.IsLinux(), RowSha256.IsNative);
    }

    [Fact]
    public void ManyMessages_OfEveryLength_InPieces_GiveTheFrameworksDigests()
    {
        var random = new Random(7);
        using var sha = new RowSha256();
        Span<byte> digest = stackalloc byte[32];
        // Lengths around the block size, the no-transition limit and beyond, empty messages and empty pieces.
        int[] lengths = [0, 1, 55, 56, 63, 64, 65, 119, 120, 230, 1000, 16 * 1024, (16 * 1024) + 1, 100_000, 1 << 20];
        foreach (var length in lengths.Concat(Enumerable.Range(0, 500).Select(_ => random.Next(0, 3000))))
        {
            var message = new byte[length];
            random.NextBytes(message);
            var at = 0;
            while (at < length)
            {
                var piece = Math.Min(length - at, random.Next(0, 3) == 0 ? 0 : random.Next(1, Math.Max(2, length)));
                sha.AppendData(message.AsSpan(at, piece));
                at += piece;
            }

            sha.GetHashAndReset(digest);
            Assert.True(SHA256.HashData(message).AsSpan().SequenceEqual(digest), $"length {length}: digest differs");
        }
    }

    [Fact]
    public void AfterDispose_ItRefuses()
    {
        var sha = new RowSha256();
        sha.Dispose();
        if (RowSha256.IsNative)
        {
            Assert.Throws<ObjectDisposedException>(() => sha.AppendData([1]));
        }
    }
}
