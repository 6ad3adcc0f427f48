using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Formats;

public sealed class DataFileSetWriterTests : IDisposable
{
    internal static readonly Column[] Columns =
    [
        new("id", ColumnKind.Integer, Nullable: false),
        new("name", ColumnKind.Text),
        new("amount", ColumnKind.Decimal),
    ];

    private static readonly DateTimeOffset Timestamp = new(2025, 1, 2, 3, 4, 6, TimeSpan.Zero);

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Write_UnderLimits_OneZipNamedWithoutPartSuffix()
    {
        var set = WriteSet(RecordFormats.Json, Rows(10), maxBytes: 1 << 20, maxRecords: null);

        var file = Assert.Single(set.Files);
        Assert.Equal("REG_V1_E_TotalDownload_JSON_Bitemporal_7.zip", file.FileName);
        Assert.Equal("REG_V1_E_TotalDownload_JSON_Bitemporal_7.json", file.InnerFileName);
        Assert.Equal((1, 1), (file.Part, file.PartCount));
        Assert.Equal(10, file.Records);
        Assert.Equal(10, set.Records);
        Assert.Equal(new FileInfo(file.LocalPath).Length, file.SizeBytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file.LocalPath))), file.Sha256);

        var entries = FormatTestData.ReadZip(file.LocalPath);
        var data = Assert.Single(entries);
        Assert.Equal(file.InnerFileName, data.Key);
        Assert.Equal(file.UncompressedBytes, data.Value.Length);
        Assert.Equal(set.UncompressedBytes, data.Value.Length);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data.Value)), set.ContentSha256);
        using var doc = JsonDocument.Parse(data.Value);
        Assert.Equal(10, doc.RootElement.GetArrayLength());
        FormatTestData.UnzipTest(file.LocalPath);
    }

    [Fact]
    public void Write_ByRecordLimit_SplitsIntoNamedPartsThatConcatenateToAllRows()
    {
        var rows = Rows(25);
        var set = WriteSet(RecordFormats.JsonLines, rows, maxBytes: 1 << 20, maxRecords: 10);

        Assert.Equal(3, set.Files.Count);
        Assert.Equal(
            ["REG_V1_E_TotalDownload_JSONL_Bitemporal_7_part1of3.zip", "REG_V1_E_TotalDownload_JSONL_Bitemporal_7_part2of3.zip", "REG_V1_E_TotalDownload_JSONL_Bitemporal_7_part3of3.zip"],
            set.Files.Select(f => f.FileName));
        Assert.Equal([10L, 10L, 5L], set.Files.Select(f => f.Records));
        Assert.Equal([1, 2, 3], set.Files.Select(f => f.Part));
        Assert.All(set.Files, f => Assert.Equal(3, f.PartCount));
        Assert.Equal(25, set.Records);

        var unsplit = WriteSet(RecordFormats.JsonLines, rows, maxBytes: 1 << 20, maxRecords: null);
        var concatenated = set.Files.SelectMany(f => FormatTestData.ReadZip(f.LocalPath)[f.InnerFileName]).ToArray();
        Assert.Equal(FormatTestData.ReadZip(unsplit.Files[0].LocalPath)[unsplit.Files[0].InnerFileName], concatenated);
        // JSONL has no header or footer, so the split does not change the content hash.
        Assert.Equal(unsplit.ContentSha256, set.ContentSha256);
    }

    [Theory]
    [InlineData("JSON")]
    [InlineData("JSONL")]
    [InlineData("CSV")]
    [InlineData("GEOJSON")]
    public void Write_ByByteLimit_NoPartAboveLimitAndRowsPreservedInOrder(string formatName)
    {
        var format = RecordFormats.Get(formatName);
        var rows = Rows(500);
        const long limit = 4000;
        var set = WriteSet(format, rows, maxBytes: limit, maxRecords: null);

        Assert.True(set.Files.Count > 3, $"expected several parts, got {set.Files.Count}");
        var ids = new List<long>();
        foreach (var file in set.Files)
        {
            var entries = FormatTestData.ReadZip(file.LocalPath);
            var data = entries[file.InnerFileName];
            Assert.True(data.Length <= limit, $"{file.FileName} holds {data.Length} bytes, above {limit}");
            Assert.Equal(file.UncompressedBytes, data.Length);
            Assert.EndsWith($"_part{file.Part}of{set.Files.Count}.zip", file.FileName, StringComparison.Ordinal);
            ids.AddRange(ReadIds(format, Encoding.UTF8.GetString(data)));
            if (format.Name == "CSV")
            {
                Assert.Contains(Path.ChangeExtension(file.InnerFileName, ".sql"), entries.Keys);
            }
        }

        Assert.Equal(Enumerable.Range(0, 500).Select(i => (long)i), ids);
        Assert.Equal(500, set.Files.Sum(f => f.Records));
        Assert.Equal(set.Files.Sum(f => f.UncompressedBytes), set.UncompressedBytes);
    }

    [Fact]
    public void Write_RecordLargerThanLimit_GoesAloneInItsOwnPart()
    {
        var big = new string('x', 10_000);
        object?[][] rows = [[1L, "small", null], [2L, big, null], [3L, "small", null]];
        var set = WriteSet(RecordFormats.Csv, rows, maxBytes: 1000, maxRecords: null);

        Assert.Equal([1L, 1L, 1L], set.Files.Select(f => f.Records));
        var middle = FormatTestData.ReadZip(set.Files[1].LocalPath)[set.Files[1].InnerFileName];
        Assert.True(middle.Length > 10_000);
    }

    [Theory]
    [InlineData("JSON", "[\n]\n")]
    [InlineData("JSONL", "")]
    [InlineData("CSV", "id,name,amount\r\n")]
    [InlineData("GEOJSON", "{\"type\":\"FeatureCollection\",\"features\":[\n]}\n")]
    public void Complete_WithoutRows_WritesOnePartWithEmptyDocument(string formatName, string expected)
    {
        var set = WriteSet(RecordFormats.Get(formatName), [], maxBytes: 1000, maxRecords: 10);

        var file = Assert.Single(set.Files);
        Assert.Equal(0, file.Records);
        Assert.Equal((1, 1), (file.Part, file.PartCount));
        Assert.Equal(expected, Encoding.UTF8.GetString(FormatTestData.ReadZip(file.LocalPath)[file.InnerFileName]));
        FormatTestData.UnzipTest(file.LocalPath);
    }

    [Fact]
    public void Csv_Zip_HoldsDdlNamedAfterThePart()
    {
        var set = WriteSet(RecordFormats.Csv, Rows(3), maxBytes: 1 << 20, maxRecords: null);
        var file = Assert.Single(set.Files);
        var entries = FormatTestData.ReadZip(file.LocalPath);
        Assert.Equal(["REG_V1_E_TotalDownload_CSV_Bitemporal_7.csv", "REG_V1_E_TotalDownload_CSV_Bitemporal_7.sql"], entries.Keys.Order(StringComparer.Ordinal));
        var ddl = Encoding.UTF8.GetString(entries["REG_V1_E_TotalDownload_CSV_Bitemporal_7.sql"]);
        Assert.StartsWith("CREATE TABLE \"E\" (", ddl, StringComparison.Ordinal);
        Assert.Contains("\"id\" bigint NOT NULL", ddl, StringComparison.Ordinal);
        Assert.Contains("PRIMARY KEY (\"id\")", ddl, StringComparison.Ordinal);
        FormatTestData.UnzipTest(file.LocalPath);
    }

    [Fact]
    public void Write_SameRowsTwice_GivesIdenticalZipBytesAndHashes()
    {
        var first = WriteSet(RecordFormats.Csv, Rows(300), maxBytes: 5000, maxRecords: null);
        var second = WriteSet(RecordFormats.Csv, Rows(300), maxBytes: 5000, maxRecords: null);

        Assert.Equal(first.ContentSha256, second.ContentSha256);
        Assert.Equal(first.Files.Count, second.Files.Count);
        for (var i = 0; i < first.Files.Count; i++)
        {
            Assert.NotEqual(first.Files[i].LocalPath, second.Files[i].LocalPath);
            Assert.Equal(File.ReadAllBytes(first.Files[i].LocalPath), File.ReadAllBytes(second.Files[i].LocalPath));
            Assert.Equal(first.Files[i].Sha256, second.Files[i].Sha256);
        }
    }

    [Fact]
    public void ContentSha256_OneChangedValue_Differs()
    {
        var rows = Rows(100);
        var changed = Rows(100);
        changed[57][2] = new DecimalText("57.51");

        var a = WriteSet(RecordFormats.Json, rows, maxBytes: 1 << 20, maxRecords: null);
        var b = WriteSet(RecordFormats.Json, changed, maxBytes: 1 << 20, maxRecords: null);

        Assert.NotEqual(a.ContentSha256, b.ContentSha256);
    }

    [Fact]
    public void ContentSha256_DoesNotDependOnGenerationInNames()
    {
        var a = WriteSet(RecordFormats.Json, Rows(20), maxBytes: 1 << 20, maxRecords: null, generation: 7);
        var b = WriteSet(RecordFormats.Json, Rows(20), maxBytes: 1 << 20, maxRecords: null, generation: 8);

        Assert.Equal(a.ContentSha256, b.ContentSha256);
        Assert.NotEqual(a.Files[0].Sha256, b.Files[0].Sha256); // the inner name differs
    }

    [Fact]
    public void Complete_DeletesPartTempFiles_LeavingOnlyTheZips()
    {
        var set = WriteSet(RecordFormats.Json, Rows(100), maxBytes: 2000, maxRecords: null);
        Assert.Equal(set.Files.Select(f => f.LocalPath).Order(StringComparer.Ordinal), _temp.Files().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Dispose_WithoutComplete_DeletesEverythingStaged()
    {
        using (var writer = new DataFileSetWriter(RecordFormats.Json, Columns, Options(maxBytes: 500, maxRecords: null)))
        {
            foreach (var row in Rows(100))
            {
                writer.Write(row, new byte[32]);
            }

            Assert.NotEmpty(_temp.Files());
        }

        Assert.Empty(_temp.Files());
    }

    [Fact]
    public void Write_AfterEncoderError_Refuses()
    {
        using var writer = new DataFileSetWriter(RecordFormats.Json, Columns, Options(maxBytes: 500, maxRecords: null));
        Assert.ThrowsAny<Exception>(() => writer.Write(["not a long", "x", null], new byte[32]));
        Assert.Throws<InvalidOperationException>(() => writer.Write([1L, "x", null], new byte[32]));
    }

    private DataFileSet WriteSet(IOutputFormat format, IReadOnlyList<object?[]> rows, long maxBytes, long? maxRecords, int generation = 7)
    {
        var options = Options(maxBytes, maxRecords, generation, format.Name);
        using var writer = new DataFileSetWriter(format, Columns, options);
        foreach (var row in rows)
        {
            writer.Write(row, new byte[32]);
        }

        return writer.Complete();
    }

    private DataFileSetOptions Options(long maxBytes, long? maxRecords, int generation = 7, string format = "JSON") => new(
        (part, count) => $"REG_V1_E_TotalDownload_{format}_Bitemporal_{generation}" + (count == 1 ? "" : $"_part{part}of{count}"),
        "E",
        ["id"],
        _temp.Path,
        maxBytes,
        maxRecords,
        Timestamp);

    private static object?[][] Rows(int count) =>
        Enumerable.Range(0, count)
            .Select(i => new object?[] { (long)i, i % 7 == 0 ? null : $"name \"{i}\", Ærø", new DecimalText($"{i}.50") })
            .ToArray();

    private static IEnumerable<long> ReadIds(IOutputFormat format, string data)
    {
        switch (format.Name)
        {
            case "CSV":
                var records = TestCsv.Parse(data);
                Assert.Equal(["id", "name", "amount"], records[0]);
                return records.Skip(1).Select(r => long.Parse(r[0]!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            case "JSONL":
                return data.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetInt64()).ToList();
            case "GEOJSON":
                using (var doc = JsonDocument.Parse(data))
                {
                    return doc.RootElement.GetProperty("features").EnumerateArray().Select(f => f.GetProperty("properties").GetProperty("id").GetInt64()).ToList();
                }

            default:
                using (var doc = JsonDocument.Parse(data))
                {
                    return doc.RootElement.EnumerateArray().Select(o => o.GetProperty("id").GetInt64()).ToList();
                }
        }
    }
}

/// <summary>Measures process-wide managed memory, so it must not share the process with running tests.</summary>
[CollectionDefinition(nameof(MemoryMeasurement), DisableParallelization = true)]
public sealed class MemoryMeasurement;

[Collection(nameof(MemoryMeasurement))]
public sealed class DataFileSetWriterMemoryTests
{
    [Fact]
    public void Write_200kRows_KeepsManagedMemoryBounded()
    {
        using var temp = new TempDirectory();
        // Not a timing test: checks that rows stream through to disk instead of accumulating.
        using var writer = new DataFileSetWriter(RecordFormats.Json, DataFileSetWriterTests.Columns, new DataFileSetOptions((_, _) => "M", "M", ["id"], temp.Path, 1L << 30, null, DateTimeOffset.UnixEpoch));
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var text = new string('n', 100);
        for (var i = 0; i < 200_000; i++)
        {
            writer.Write([(long)i, text, new DecimalText("1.25")], new byte[32]);
        }

        var during = GC.GetTotalMemory(forceFullCollection: true);
        var set = writer.Complete();

        Assert.True(set.UncompressedBytes > 20_000_000, $"only {set.UncompressedBytes} bytes written");
        Assert.True(during - before < 8 * 1024 * 1024, $"managed memory grew by {(during - before) / 1024} KiB while writing 200k rows");
        Assert.Equal(200_000, set.Records);
    }
}
