using System.Buffers;
using System.IO.Compression;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Formats.Zip;

namespace BulkExport.Exporter.Tests.Formats;

public sealed class PartCompressorTests
{
    [Fact]
    public void Finish_AfterSeveralParts_ReturnsThemInOrderWithCrcSizesAndInflatableData()
    {
        using var temp = new TempDirectory();
        using var compressor = new PartCompressor(bufferCount: 2, bufferSize: 16, compressionLevel: 1);
        var contents = new[] { "first part, first chunk|first part, second chunk", "", "third" };
        for (var i = 0; i < contents.Length; i++)
        {
            var path = Path.Combine(temp.Path, $"p{i}");
            compressor.StartPart(path, new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite));
            var buffer = new ByteBuffer(16);
            foreach (var chunk in contents[i].Split('|', StringSplitOptions.RemoveEmptyEntries))
            {
                buffer.Write(System.Text.Encoding.UTF8.GetBytes(chunk));
                buffer = compressor.Submit(buffer);
                Assert.Equal(0, buffer.Count);
            }

            compressor.EndPart(records: i + 10);
        }

        var (parts, _) = compressor.Finish();

        Assert.Equal(3, parts.Count);
        for (var i = 0; i < parts.Count; i++)
        {
            var expected = System.Text.Encoding.UTF8.GetBytes(contents[i].Replace("|", "", StringComparison.Ordinal));
            Assert.Equal(Path.Combine(temp.Path, $"p{i}"), parts[i].Path);
            Assert.Equal(i + 10, parts[i].Records);
            Assert.Equal(expected.Length, parts[i].UncompressedSize);
            Assert.Equal(Crc32.Compute(expected), parts[i].Crc);
            Assert.Equal(new FileInfo(parts[i].Path).Length, parts[i].CompressedSize);
            using var inflate = new DeflateStream(File.OpenRead(parts[i].Path), CompressionMode.Decompress);
            using var copy = new MemoryStream();
            inflate.CopyTo(copy);
            Assert.Equal(expected, copy.ToArray());
        }
    }

    [Fact]
    public void Part_StartedAfterAReservedHeader_StreamsDeflateFromThere()
    {
        using var temp = new TempDirectory();
        using var compressor = new PartCompressor(bufferCount: 2, bufferSize: 16, compressionLevel: 2);
        var path = Path.Combine(temp.Path, "zip");
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite) { Position = 100 };
        compressor.StartPart(path, file);
        var buffer = new ByteBuffer(16);
        buffer.Write("hello, hello, hello"u8);
        compressor.Submit(buffer);
        compressor.EndPart(records: 1);

        var part = Assert.Single(compressor.Finish().Parts);

        Assert.Equal(100, part.DataOffset);
        Assert.Equal(new FileInfo(path).Length - 100, part.CompressedSize);
        using var data = File.OpenRead(path);
        data.Position = 100;
        using var inflate = new DeflateStream(data, CompressionMode.Decompress);
        using var copy = new MemoryStream();
        inflate.CopyTo(copy);
        Assert.Equal("hello, hello, hello"u8.ToArray(), copy.ToArray());
    }

    [Fact]
    public void WorkerFailure_SurfacesOnTheCallersSideAndNeverHangs()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "readonly");
        File.WriteAllText(path, "");
        using var compressor = new PartCompressor(bufferCount: 2, bufferSize: 16, compressionLevel: 1);
        // A read-only stream makes the worker fail; when the caller notices depends on timing, but
        // it must notice by Finish at the latest, and no call may block forever.
        compressor.StartPart(path, new FileStream(path, FileMode.Open, FileAccess.Read));
        var error = Record.Exception(() =>
        {
            for (var i = 0; i < 10; i++)
            {
                var buffer = new ByteBuffer(16);
                buffer.Write("data"u8);
                compressor.Submit(buffer);
            }

            compressor.EndPart(1);
            compressor.Finish();
        });

        Assert.IsType<ArgumentException>(error);
        Assert.Throws<ArgumentException>(() => compressor.Finish());
    }
}
