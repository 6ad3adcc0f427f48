using System.IO.Compression;
using System.Text;
using BulkExport.Exporter.Formats.Zip;

namespace BulkExport.Exporter.Tests.Formats;

public sealed class ZipWriterTests
{
    private static readonly DateTimeOffset Timestamp = new(2025, 6, 7, 8, 9, 10, TimeSpan.Zero);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Zip_WithPrecompressedAndSmallEntries_OpensWithZipArchiveAndUnzip(bool forceZip64)
    {
        using var temp = new TempDirectory();
        var data = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"vej\":\"Ærøvej\"}\n", 5000)));
        var path = Path.Combine(temp.Path, "a.zip");
        WriteZip(path, data, forceZip64, "Ærø_data.json");

        var entries = FormatTestData.ReadZip(path);
        Assert.Equal(data, entries["Ærø_data.json"]);
        Assert.Equal("CREATE TABLE x ();\n", Encoding.UTF8.GetString(entries["Ærø_data.sql"]));
        Assert.Empty(entries["empty.txt"]);

        var output = FormatTestData.UnzipTest(path);
        Assert.Contains("No errors detected", output, StringComparison.Ordinal);
        Assert.Contains("Ærø_data.json", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Zip_EntryTimestamp_IsTheGivenInstantInUtc()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "t.zip");
        WriteZip(path, [1, 2, 3], forceZip64: false, "t.bin");

        using var archive = ZipFile.OpenRead(path);
        var entry = archive.GetEntry("t.bin")!;
        // ZipArchive reads the DOS fields (2-second resolution, no zone), which we write in UTC.
        Assert.Equal(new DateTime(2025, 6, 7, 8, 9, 10), entry.LastWriteTime.DateTime);
    }

    [Fact]
    public void Zip_SameInput_GivesIdenticalBytes()
    {
        using var temp = new TempDirectory();
        var data = Encoding.UTF8.GetBytes("same");
        WriteZip(Path.Combine(temp.Path, "1.zip"), data, false, "x.json");
        WriteZip(Path.Combine(temp.Path, "2.zip"), data, false, "x.json");
        Assert.Equal(File.ReadAllBytes(Path.Combine(temp.Path, "1.zip")), File.ReadAllBytes(Path.Combine(temp.Path, "2.zip")));
    }

    [Fact]
    public void Zip_ForcedZip64_HasZip64EndRecordAndLocator()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "z64.zip");
        WriteZip(path, [42], forceZip64: true, "a");
        var bytes = File.ReadAllBytes(path);
        Assert.True(IndexOf(bytes, [0x50, 0x4b, 0x06, 0x06]) > 0, "no Zip64 end of central directory record");
        Assert.True(IndexOf(bytes, [0x50, 0x4b, 0x06, 0x07]) > 0, "no Zip64 end of central directory locator");
    }

    [Fact]
    public void Zip_EntryCountAboveDosLimit_UsesZip64AndListsEveryEntry()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "many.zip");
        const int count = 65_540;
        using (var file = File.Create(path))
        {
            var zip = new ZipWriter(file, Timestamp);
            for (var i = 0; i < count; i++)
            {
                zip.AddEntry($"e{i}", ReadOnlySpan<byte>.Empty);
            }

            zip.Finish();
        }

        using var archive = ZipFile.OpenRead(path);
        Assert.Equal(count, archive.Entries.Count);
        FormatTestData.UnzipTest(path);
    }

    [Theory]
    [InlineData(1970, 1, 1, 0, 0, 0, 0x0021, 0x0000)] // before DOS epoch: clamped to 1980-01-01
    [InlineData(2025, 6, 7, 8, 9, 11, (45 << 9) | (6 << 5) | 7, (8 << 11) | (9 << 5) | 5)]
    public void ToDos_ConvertsOrClamps(int y, int mo, int d, int h, int mi, int s, int expectedDate, int expectedTime)
    {
        var (date, time) = ZipWriter.ToDos(new DateTime(y, mo, d, h, mi, s, DateTimeKind.Utc));
        Assert.Equal(expectedDate, date);
        Assert.Equal(expectedTime, time);
    }

    private static void WriteZip(string path, byte[] data, bool forceZip64, string dataName)
    {
        var compressed = new MemoryStream();
        using (var deflate = new DeflateStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            deflate.Write(data);
        }

        compressed.Position = 0;
        using var file = File.Create(path);
        var zip = new ZipWriter(file, Timestamp, forceZip64);
        zip.AddEntry(dataName, compressed, compressed.Length, data.Length, Crc32.Compute(data), ZipWriter.MethodDeflate);
        zip.AddEntry(Path.ChangeExtension(dataName, ".sql"), "CREATE TABLE x ();\n"u8);
        zip.AddEntry("empty.txt", ReadOnlySpan<byte>.Empty);
        zip.Finish();
    }

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);
}
