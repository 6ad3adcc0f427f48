using System.IO.Compression;
using BulkExport.Exporter.Pipeline;

namespace BulkExport.Exporter.Tests.Pipeline;

/// <summary>The delta state file read back as written, and a damaged one refused rather than read as "fewer rows".</summary>
public sealed class DeltaStateTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("delta-state-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static byte[] KeyOf(int i) => i % 1000 == 7
        // Now and then a key longer than the reader's buffer, so a record straddles many reads.
        ? [.. Enumerable.Range(0, 70_000 + i).Select(b => (byte)(b * 31 + i))]
        : [.. BitConverter.GetBytes(i).Reverse(), .. Enumerable.Repeat((byte)i, i % 130)];

    private static byte[] HashOf(int i) => [.. Enumerable.Range(0, 32).Select(b => (byte)(b ^ i))];

    private string Write(int count)
    {
        var path = Path.Combine(_directory, $"{Guid.NewGuid():N}.state");
        using var writer = new DeltaStateWriter(path);
        for (var i = 0; i < count; i++)
        {
            writer.Write(KeyOf(i), HashOf(i));
        }

        writer.Complete();
        return path;
    }

    [Fact]
    public void Records_ReadBack_AsWritten_KeysOfEveryLength()
    {
        var path = Write(5_000);
        using var reader = DeltaStateReader.Open(path);
        for (var i = 0; i < 5_000; i++)
        {
            Assert.True(reader.MoveNext());
            Assert.True(reader.HasCurrent);
            Assert.True(reader.Key.SequenceEqual(KeyOf(i)), $"record {i}: key differs");
            Assert.True(reader.Hash.SequenceEqual(HashOf(i).AsSpan(0, 16)), $"record {i}: hash differs");
        }

        Assert.False(reader.MoveNext());
        Assert.False(reader.HasCurrent);
    }

    [Fact]
    public void WatermarkedState_ReadsBack_ItsWatermark_AndWholeDigests_WhileAPlainOneHasNeither()
    {
        var path = Path.Combine(_directory, $"{Guid.NewGuid():N}.state");
        byte[] watermark = [.. Enumerable.Range(0, 70_000).Select(b => (byte)b)];
        using (var writer = new DeltaStateWriter(path, watermark))
        {
            for (var i = 0; i < 2_000; i++)
            {
                writer.Write(KeyOf(i), HashOf(i));
            }

            writer.Complete();
        }

        using (var reader = DeltaStateReader.Open(path))
        {
            Assert.Equal(watermark, reader.Watermark);
            Assert.True(reader.HasDigests);
            for (var i = 0; i < 2_000; i++)
            {
                Assert.True(reader.MoveNext());
                Assert.True(reader.Key.SequenceEqual(KeyOf(i)), $"record {i}: key differs");
                Assert.True(reader.Digest.SequenceEqual(HashOf(i)), $"record {i}: digest differs");
                Assert.True(reader.Hash.SequenceEqual(HashOf(i).AsSpan(0, 16)), $"record {i}: hash differs");
            }

            Assert.False(reader.MoveNext());
        }

        using var plain = DeltaStateReader.Open(Write(10));
        Assert.Null(plain.Watermark);
        Assert.False(plain.HasDigests);
        Assert.True(plain.MoveNext());
        Assert.Throws<InvalidOperationException>(() => plain.Digest.Length);
    }

    [Fact]
    public void EmptyState_HasNoRecords()
    {
        using var reader = DeltaStateReader.Empty();
        Assert.False(reader.MoveNext());
    }

    [Fact]
    public void TruncatedState_IsAnError_NotFewerRecords()
    {
        var path = Write(3_000);
        // Inflate, cut the tail (trailer and some records), deflate again: a cleanly compressed short file.
        byte[] inflated;
        using (var input = new DeflateStream(File.OpenRead(path), CompressionMode.Decompress))
        using (var memory = new MemoryStream())
        {
            input.CopyTo(memory);
            inflated = memory.ToArray();
        }

        foreach (var cut in new[] { 1, 2, 17, inflated.Length / 2 })
        {
            var shortPath = Path.Combine(_directory, $"short-{cut}.state");
            using (var output = new DeflateStream(File.Create(shortPath), CompressionLevel.Fastest))
            {
                output.Write(inflated, 0, inflated.Length - cut);
            }

            using var reader = DeltaStateReader.Open(shortPath);
            var error = Assert.Throws<InvalidDataException>(() =>
            {
                while (reader.MoveNext())
                {
                }
            });
            Assert.Matches("truncated|damaged", error.Message);
        }
    }
}
