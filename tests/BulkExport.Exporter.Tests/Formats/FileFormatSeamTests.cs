using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Formats;

/// <summary>
/// The seam for formats that need a seekable file (GeoPackage, Parquet, GML): a file written out of
/// order goes through the same splitting, zipping and hashing as a streamed one.
/// </summary>
public sealed class FileFormatSeamTests : IDisposable
{
    private static readonly DateTimeOffset Timestamp = new(2025, 1, 2, 3, 4, 6, TimeSpan.Zero);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void FileFormat_OnePart_ZipHoldsTheFinishedFileAndItsCompanion()
    {
        var set = Write(Rows(5), maxBytes: 1 << 20);

        var file = Assert.Single(set.Files);
        var entries = FormatTestData.ReadZip(file.LocalPath);
        Assert.Equal(["E.cnt", "E.cols"], entries.Keys.Order(StringComparer.Ordinal));
        var data = entries["E.cnt"];
        // The count was written last, by seeking back: only a finished file carries it.
        Assert.Equal(5L, BinaryPrimitives.ReadInt64LittleEndian(data));
        Assert.Equal("0\t\n1\tn1 Ærø\n2\tn2 Ærø\n3\tn3 Ærø\n4\tn4 Ærø\n", Encoding.UTF8.GetString(data.AsSpan(8)));
        Assert.Equal("id,name\n", Encoding.UTF8.GetString(entries["E.cols"]));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), set.ContentSha256);
        Assert.Equal(data.Length, file.UncompressedBytes);
        Assert.Equal(5, file.Records);
        FormatTestData.UnzipTest(file.LocalPath);
        // Only the zip is left: the format's temporary file went with its part.
        Assert.Equal([file.LocalPath], _temp.Files());
    }

    [Fact]
    public void FileFormat_BySize_SplitsOnTheWritersEstimateAndKeepsEveryRowOnce()
    {
        const long max = 200;
        // Rows of one length: the mean-size prediction then never lets a part pass the limit.
        var set = Write(Enumerable.Range(100, 100).Select(i => new object?[] { (long)i, $"n{i} Ærø" }), maxBytes: max);

        Assert.True(set.Files.Count > 3, $"{set.Files.Count} parts");
        Assert.All(set.Files, f => Assert.True(f.UncompressedBytes <= max, $"part {f.Part}: {f.UncompressedBytes} bytes"));
        var ids = new List<long>();
        foreach (var file in set.Files)
        {
            var data = FormatTestData.ReadZip(file.LocalPath)[file.InnerFileName];
            var lines = Encoding.UTF8.GetString(data.AsSpan(8)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(lines.Length, BinaryPrimitives.ReadInt64LittleEndian(data));
            Assert.Equal(lines.Length, file.Records);
            ids.AddRange(lines.Select(l => long.Parse(l.Split('\t')[0], CultureInfo.InvariantCulture)));
        }

        Assert.Equal(Enumerable.Range(100, 100).Select(i => (long)i), ids);
        Assert.Equal(100, set.Records);
    }

    [Fact]
    public void StoredFileFormat_ZipStoresTheFileAsIs_AndTheContentIdIsOverItsBytes()
    {
        var set = Write(Rows(5), maxBytes: 1 << 20, new CountedLinesFormat(deflate: false));

        var file = Assert.Single(set.Files);
        var zip = File.ReadAllBytes(file.LocalPath);
        Assert.Equal(0x04034b50u, BinaryPrimitives.ReadUInt32LittleEndian(zip));
        // The first local header's method: 0, stored.
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(8)));
        var data = FormatTestData.ReadZip(file.LocalPath)["E.cnt"];
        Assert.Equal(5L, BinaryPrimitives.ReadInt64LittleEndian(data));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), set.ContentSha256);
        Assert.Equal(data.Length, file.UncompressedBytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(zip)), file.Sha256);
        FormatTestData.UnzipTest(file.LocalPath);
        Assert.Equal([file.LocalPath], _temp.Files());
    }

    [Fact]
    public void FileFormatWithContentSettings_ContentIdIsOverTheRows_NotTheBytesThatCarryTheGeneration()
    {
        // Two generations' files of the same rows differ (the stamp), their content ids do not.
        var first = Write(Rows(6), maxBytes: 1 << 20, new CountedLinesFormat(contentSettings: "v1", stamp: 1));
        var second = Write(Rows(6), maxBytes: 1 << 20, new CountedLinesFormat(contentSettings: "v1", stamp: 2));
        Assert.NotEqual(first.Files[0].Sha256, second.Files[0].Sha256);
        Assert.Equal(first.ContentSha256, second.ContentSha256);

        // Other settings, other rows or another split: another id.
        Assert.NotEqual(first.ContentSha256, Write(Rows(6), maxBytes: 1 << 20, new CountedLinesFormat(contentSettings: "v2", stamp: 1)).ContentSha256);
        Assert.NotEqual(first.ContentSha256, Write(Rows(5), maxBytes: 1 << 20, new CountedLinesFormat(contentSettings: "v1", stamp: 1)).ContentSha256);
        var split = Write(Rows(6), maxBytes: 1 << 20, new CountedLinesFormat(contentSettings: "v1", stamp: 1), maxRecords: 3);
        Assert.Equal(2, split.Files.Count);
        Assert.NotEqual(first.ContentSha256, split.ContentSha256);
    }

    [Fact]
    public void FileFormat_DisposedUnfinished_LeavesNoTemporaryFile()
    {
        using (var writer = new DataFileSetWriter(new CountedLinesFormat(), Columns, Options(1 << 20)))
        {
            writer.Write([1L, "x"], new byte[32]);
            Assert.Contains(_temp.Files(), f => f.EndsWith(".cnt", StringComparison.Ordinal));
        }

        Assert.Empty(_temp.Files());
    }

    [Fact]
    public void Registry_RejectsAFormatTheApiDoesNotDeclare_AndResolvesByNameIgnoringCase()
    {
        var registry = new OutputFormatRegistry();
        var error = Assert.Throws<ArgumentException>(() => registry.Register(new CountedLinesFormat()));
        Assert.Contains("CNT", error.Message, StringComparison.Ordinal);
        Assert.Same(RecordFormats.Csv, OutputFormatRegistry.Default.Get("csv"));
        Assert.Equal(OutputFormats.All, OutputFormatRegistry.Default.All.Select(f => f.Name));
        Assert.Throws<ArgumentException>(() => OutputFormatRegistry.Default.Register(new CsvFormat()));
    }

    [Fact]
    public void GeoJson_DeclaresItsGeometryRule_OtherBuiltInsTakeEveryEntity()
    {
        Assert.Equal(GeometryRule.SkipEntitiesWithout, RecordFormats.GeoJson.Geometry);
        Assert.All(new[] { RecordFormats.Json, RecordFormats.JsonLines, RecordFormats.Csv }, f => Assert.Equal(GeometryRule.Any, f.Geometry));
    }

    private static readonly Column[] Columns = [new("id", ColumnKind.Integer, Nullable: false), new("name", ColumnKind.Text)];

    private static object?[][] Rows(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new object?[] { (long)i, i == 0 ? null : $"n{i} Ærø" })];

    private DataFileSet Write(IEnumerable<object?[]> rows, long maxBytes, CountedLinesFormat? format = null, long? maxRecords = null)
    {
        using var writer = new DataFileSetWriter(format ?? new CountedLinesFormat(), Columns, Options(maxBytes, maxRecords));
        foreach (var row in rows)
        {
            // A digest per row that depends on the row, as RowDigest's does.
            var digest = SHA256.HashData(Encoding.UTF8.GetBytes($"{row[0]}|{row[1]}"));
            writer.Write(row, digest);
        }

        return writer.Complete();
    }

    private DataFileSetOptions Options(long maxBytes, long? maxRecords = null) =>
        new((part, count) => count == 1 ? "E" : $"E_part{part}of{count}", "E", ["id"], _temp.Path, maxBytes, maxRecords, Timestamp);

    /// <summary>An 8-byte record count, patched in at the end, then one tab-separated line per row (and a <c>#stamp</c> line when stamped).</summary>
    /// <param name="deflate">Its <see cref="IFileFormat.DeflateInZip"/>.</param>
    /// <param name="contentSettings">Its <see cref="IFileFormat.ContentSettings"/>.</param>
    /// <param name="stamp">A generation's mark written into the file, as GeoPackage's last_change; 0 for none.</param>
    private sealed class CountedLinesFormat(bool deflate = true, string? contentSettings = null, long stamp = 0) : IFileFormat
    {
        public string Name => "CNT";

        public bool DeflateInZip => deflate;

        public string? ContentSettings => contentSettings;

        public string Extension => "cnt";

        public GeometryRule Geometry => GeometryRule.Any;

        public IReadOnlyList<CompanionFile> CompanionFiles(FormatSchema schema) =>
            [new CompanionFile("cols", Encoding.UTF8.GetBytes(string.Join(",", schema.Columns.Select(c => c.Name)) + "\n"))];

        public IDataFileWriter CreateWriter(FormatSchema schema, string path) => new Writer(path, stamp);

        private sealed class Writer : IDataFileWriter
        {
            private readonly FileStream _file;
            private readonly long _stamp;
            private long _count;

            public Writer(string path, long stamp)
            {
                _stamp = stamp;
                _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite);
                _file.Write(new byte[8]);
            }

            public long EstimatedBytes => _file.Position;

            public void Write(IRowView row)
            {
                _file.Write(Encoding.UTF8.GetBytes(row.GetInt64(0).ToString(CultureInfo.InvariantCulture) + "\t"));
                if (!row.IsNull(1))
                {
                    _file.Write(row.GetUtf8(1));
                }

                _file.WriteByte((byte)'\n');
                _count++;
            }

            public void Finish()
            {
                if (_stamp != 0)
                {
                    _file.Write(Encoding.UTF8.GetBytes($"#{_stamp.ToString(CultureInfo.InvariantCulture)}\n"));
                }

                Span<byte> count = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(count, _count);
                _file.Seek(0, SeekOrigin.Begin);
                _file.Write(count);
                _file.Flush();
            }

            public void Dispose() => _file.Dispose();
        }
    }
}
