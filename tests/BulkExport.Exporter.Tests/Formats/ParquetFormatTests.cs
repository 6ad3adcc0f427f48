using System.Text.Json;
using BulkExport.Api;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;
using BulkExport.Exporter.Tests.Support;
using NetTopologySuite.IO;
using Parquet;
using Parquet.Schema;
using static BulkExport.Exporter.Tests.Formats.StructuredFormatTestData;

namespace BulkExport.Exporter.Tests.Formats;

public sealed class ParquetFormatTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private DataFileSet WriteParquet(IReadOnlyList<Column> columns, IEnumerable<object?[]> rows, string codec = ParquetCompression.Zstd, long? maxRecords = null, int rowGroupRows = 1000) =>
        Write(new DataFileSetWriter(new ParquetFormat(Entity(), codec, rowGroupRows), columns, Options(_temp.Path, maxRecords)), columns, rows);

    private static string Hex(byte[] bytes) => Convert.ToHexString(bytes);

    [DuckDbFact]
    public void DuckDbReadsEveryRow_WithTheSourceTypesAndValues_InTheEntitysColumnOrder()
    {
        var source = TestRows(6);
        var set = WriteParquet(Columns, source);
        var file = Assert.Single(set.Files);
        Assert.Equal("DAR_V1_Adresse_TotalDownload_X_Current_3.parquet", file.InnerFileName);
        var path = Extract(file, _temp.Path);
        using var read = ReaderTools.DuckDbRead(path);
        var root = read.RootElement;

        var columns = root.GetProperty("columns").EnumerateArray().Select(c => (c.GetProperty("name").GetString(), c.GetProperty("type").GetString())).ToList();
        Assert.Equal(
            [
                ("id", "BIGINT"), ("name", "VARCHAR"), ("amount", "DECIMAL(12,2)"), ("big", "VARCHAR"), ("ratio", "DOUBLE"), ("active", "BOOLEAN"),
                ("day", "DATE"), ("seen", "TIMESTAMP"), ("changed", "TIMESTAMP WITH TIME ZONE"), ("uid", "VARCHAR"), ("doc", "VARCHAR"), ("raw", "BLOB"),
                ("tags", "VARCHAR"), ("geom", "GEOMETRY"),
            ],
            columns);
        // DuckDB took the column as a geometry from the GeoParquet metadata, with its CRS.
        using (var crs = JsonDocument.Parse(root.GetProperty("columns")[13].GetProperty("crs").GetString()!))
        {
            Assert.Equal(25832, crs.RootElement.GetProperty("id").GetProperty("code").GetInt32());
        }

        var rows = root.GetProperty("rows").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Null ? null : v.GetString()).ToList()).ToList();
        Assert.Equal(source.Count, rows.Count);
        var wkb = new WKBWriter(ByteOrder.LittleEndian, false, false, false);
        var wkt = new WKTReader();
        for (var i = 0; i < source.Count; i++)
        {
            var s = source[i];
            var r = rows[i];
            Assert.Equal(((long)s[0]!).ToString(System.Globalization.CultureInfo.InvariantCulture), r[0]);
            Assert.Equal(Hex(wkb.Write(wkt.Read(((GeometryValue)s[13]!).Wkt))), r[13]);
            if (i == source.Count - 1)
            {
                Assert.All(r.Skip(1).Take(12), Assert.Null);
                continue;
            }

            Assert.Equal((string)s[1]!, r[1]);
            Assert.Equal(((DecimalText)s[2]!).Text, r[2]);
            Assert.Equal(((DecimalText)s[3]!).Text, r[3]);
            Assert.Equal((double)s[4]!, double.Parse(r[4]!, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal((bool)s[5]! ? "true" : "false", r[5]);
            Assert.Equal(((DateOnly)s[6]!).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), r[6]);
            Assert.Equal(((DateTime)s[7]!).ToString("yyyy-MM-dd HH:mm:ss.ffffff", System.Globalization.CultureInfo.InvariantCulture), r[7]);
            Assert.Equal(((DateTimeOffset)s[8]!).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + "+00", r[8]);
            Assert.Equal(((Guid)s[9]!).ToString("D"), r[9]);
            Assert.Equal(((RawJson)s[10]!).Json, r[10]);
            Assert.Equal(Hex((byte[])s[11]!), r[11]);
            Assert.Equal("[\"a\",\"t" + (i + 1) + "\"]", r[12]);
        }
    }

    [DuckDbFact]
    public async Task ATypedCsvFromTheFilesSource_ReadsBackInDuckDb_WithItsDeclaredTypes_RowForRow()
    {
        // The formats bench's shape: integers delta-encoded and doubles byte-split across row groups of 3 rows.
        var dir = Directory.CreateDirectory(Path.Combine(_temp.Path, "src")).FullName;
        var csv = new System.Text.StringBuilder("id,name,amount,exact,day,active,score\n");
        for (var i = 1; i <= 10; i++)
        {
            csv.Append(System.Globalization.CultureInfo.InvariantCulture, $"{i * 1000 - 5000},Vej {i},{i}.{i:00},-{i}.5{i},2024-{i:00}-{i + 10},{(i % 3 == 0 ? "f" : "true")},{i * 7919 / 7.0:R}\n");
        }

        csv.Append("9999999999,,,,,,\n");
        await File.WriteAllTextAsync(Path.Combine(dir, "T.csv"), csv.ToString());
        var entity = new EntitySpec
        {
            Name = "T",
            Key = ["id"],
            Columns = new() { ["id"] = "integer", ["amount"] = "float", ["exact"] = "numeric(6,3)", ["day"] = "date", ["active"] = "boolean", ["score"] = "float" },
        };
        var source = new FilesSource(new FilesSourceSpec { Path = dir }, [entity], TimeProvider.System);
        var (columns, rows, _) = await SourceReads.ReadAllAsync(source, entity);

        using var read = ReaderTools.DuckDbRead(Extract(Assert.Single(WriteParquet(columns, rows, rowGroupRows: 3).Files), _temp.Path));
        var root = read.RootElement;

        Assert.Equal(
            [("id", "BIGINT"), ("name", "VARCHAR"), ("amount", "DOUBLE"), ("exact", "DECIMAL(6,3)"), ("day", "DATE"), ("active", "BOOLEAN"), ("score", "DOUBLE")],
            root.GetProperty("columns").EnumerateArray().Select(c => (c.GetProperty("name").GetString(), c.GetProperty("type").GetString())));
        var back = root.GetProperty("rows").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Null ? null : v.GetString()).ToList()).ToList();
        Assert.Equal(rows.Count, back.Count);
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        for (var i = 0; i < rows.Count; i++)
        {
            var s = rows[i];
            var r = back[i];
            Assert.Equal(((long)s[0]!).ToString(inv), r[0]);
            Assert.Equal((string?)s[1], r[1]);
            Assert.Equal(s[2] is double a ? a : (double?)null, r[2] is null ? null : double.Parse(r[2]!, inv));
            Assert.Equal(s[3] is DecimalText d ? decimal.Parse(d.Text, inv) : (decimal?)null, r[3] is null ? null : decimal.Parse(r[3]!, inv));
            Assert.Equal(s[4] is DateOnly day ? day.ToString("yyyy-MM-dd", inv) : null, r[4]);
            Assert.Equal(s[5] is bool b ? (b ? "true" : "false") : null, r[5]);
            Assert.Equal(s[6] is double score ? score : (double?)null, r[6] is null ? null : double.Parse(r[6]!, inv));
        }

        Assert.Equal([3, 3, 3, 2], root.GetProperty("rowGroups").EnumerateArray().Select(g => g.GetInt32()));
    }

    [DuckDbFact]
    public void ZPoints_AreIsoWkbPointZ_TypedPointZInTheGeoMetadata_AndDuckDbReadsTheZ()
    {
        var set = WriteParquet(ZColumns, ZPointRows());
        using var read = ReaderTools.DuckDbRead(Extract(Assert.Single(set.Files), _temp.Path));
        var root = read.RootElement;

        // DuckDB's own reading of the WKB, as WKT: the Z is there.
        Assert.Equal(["POINT Z (720001 6170002 12.5)", "POINT Z (720003 6170004 -3.25)", null], root.GetProperty("wkt").EnumerateArray().Select(r => r[1].GetString()));
        // ISO WKB Point Z (type 1001), little-endian.
        Assert.StartsWith("01E9030000", root.GetProperty("rows")[0][1].GetString(), StringComparison.Ordinal);
        using var geo = JsonDocument.Parse(root.GetProperty("metadata").GetProperty("geo").GetString()!);
        Assert.Equal(["Point Z"], geo.RootElement.GetProperty("columns").GetProperty("geom").GetProperty("geometry_types").EnumerateArray().Select(t => t.GetString()));
    }

    [DuckDbFact]
    public void AGeoJsonZ_FromAFilesSource_IsWrittenAsZ()
    {
        // A GeoJSON [x, y, z] from a files source: its WKT is tagged Z (GeometryText).
        List<object?[]> rows = [[1L, GeometryText.FromText("{\"type\":\"Point\",\"coordinates\":[720001,6170002,12.5]}") with { Srid = 25832 }]];
        using var read = ReaderTools.DuckDbRead(Extract(Assert.Single(WriteParquet(ZColumns, rows).Files), _temp.Path));

        Assert.Equal("POINT Z (720001 6170002 12.5)", read.RootElement.GetProperty("wkt")[0][1].GetString());
    }

    [Fact]
    public void AnMOrdinate_FailsTheFile_NamingEntityAndColumn()
    {
        var e = Assert.Throws<FormatException>(() => WriteParquet(ZColumns, MPointRows()));
        Assert.Contains("entity Adresse, column geom", e.Message, StringComparison.Ordinal);
        Assert.Contains("M (measure) ordinate", e.Message, StringComparison.Ordinal);
    }

    [DuckDbFact]
    public void GeoMetadata_IsGeoParquet11_WithWkbPointTypesCrsAndBbox()
    {
        var set = WriteParquet(Columns, TestRows(6));
        using var read = ReaderTools.DuckDbRead(Extract(Assert.Single(set.Files), _temp.Path));

        using var geo = JsonDocument.Parse(read.RootElement.GetProperty("metadata").GetProperty("geo").GetString()!);
        var root = geo.RootElement;
        Assert.Equal("1.1.0", root.GetProperty("version").GetString());
        Assert.Equal("geom", root.GetProperty("primary_column").GetString());
        var column = root.GetProperty("columns").GetProperty("geom");
        Assert.Equal("WKB", column.GetProperty("encoding").GetString());
        Assert.Equal(["Point"], column.GetProperty("geometry_types").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal("ProjectedCRS", column.GetProperty("crs").GetProperty("type").GetString());
        Assert.Equal(25832, column.GetProperty("crs").GetProperty("id").GetProperty("code").GetInt32());
        Assert.Equal([720001.0, 6170002.0, 720006.0, 6170012.0], column.GetProperty("bbox").EnumerateArray().Select(b => b.GetDouble()));
    }

    [DuckDbFact]
    public async Task Timestamps_KeepTheirMicroseconds_AsTimestampMicros_AndDuckDbReadsTheSameInstants()
    {
        // PostgreSQL and the files source's CSV carry microseconds; a MILLIS column, or a writer that
        // rounded, would publish other instants than the source's.
        Column[] columns = [new("id", ColumnKind.Integer), new("seen", ColumnKind.Timestamp), new("changed", ColumnKind.TimestampTz)];
        (DateTime Local, DateTimeOffset Instant, string Seen, string Changed)[] cases =
        [
            (new DateTime(2024, 3, 1, 12, 0, 0, DateTimeKind.Unspecified).AddTicks(1_234_560), new DateTimeOffset(2024, 3, 1, 12, 0, 0, TimeSpan.Zero).AddTicks(1_234_560),
                "2024-03-01 12:00:00.123456", "2024-03-01 12:00:00.123456+00"),
            // Before the epoch the micros count is negative: the fraction must not flip or round up a second.
            (new DateTime(1969, 12, 31, 23, 59, 59, DateTimeKind.Unspecified).AddTicks(9_999_990), new DateTimeOffset(1969, 12, 31, 23, 59, 59, TimeSpan.Zero).AddTicks(9_999_990),
                "1969-12-31 23:59:59.999999", "1969-12-31 23:59:59.999999+00"),
            // An instant given with an offset is written as its UTC time.
            (new DateTime(2999, 12, 31, 23, 59, 59, DateTimeKind.Unspecified).AddTicks(10), new DateTimeOffset(2024, 6, 1, 14, 0, 0, TimeSpan.FromHours(2)).AddTicks(10),
                "2999-12-31 23:59:59.000001", "2024-06-01 12:00:00.000001+00"),
        ];
        var set = WriteParquet(columns, cases.Select((c, i) => new object?[] { (long)i, c.Local, c.Instant }));
        var path = Extract(Assert.Single(set.Files), _temp.Path);

        await using (var stream = File.OpenRead(path))
        await using (var reader = await ParquetReader.CreateAsync(stream))
        {
            var fields = reader.Schema.DataFields;
            Assert.Equal(
                [("seen", DateTimeTimeUnit.Micros, false), ("changed", DateTimeTimeUnit.Micros, true)],
                fields.Skip(1).Select(f => Assert.IsType<DateTimeDataField>(f)).Select(f => (f.Name, f.Unit, f.IsAdjustedToUTC)));
        }

        using var read = ReaderTools.DuckDbRead(path);
        Assert.Equal(
            ["BIGINT", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"],
            read.RootElement.GetProperty("columns").EnumerateArray().Select(c => c.GetProperty("type").GetString()));
        var rows = read.RootElement.GetProperty("rows").EnumerateArray().Select(r => (r[1].GetString(), r[2].GetString())).ToList();
        Assert.Equal(cases.Select(c => ((string?)c.Seen, (string?)c.Changed)), rows);
    }

    [DuckDbFact]
    public void RowGroups_AreBoundedInRows_AndTheCodecIsTheConfiguredOne()
    {
        var zstd = WriteParquet(Columns, TestRows(25), rowGroupRows: 10);
        using (var read = ReaderTools.DuckDbRead(Extract(Assert.Single(zstd.Files), _temp.Path)))
        {
            Assert.Equal([10, 10, 5], read.RootElement.GetProperty("rowGroups").EnumerateArray().Select(g => g.GetInt32()));
            Assert.Equal(["ZSTD"], read.RootElement.GetProperty("codecs").EnumerateArray().Select(c => c.GetString()));
            Assert.Equal(25, read.RootElement.GetProperty("rows").GetArrayLength());
        }

        var snappy = WriteParquet(Columns, TestRows(25), codec: ParquetCompression.Snappy);
        using (var read = ReaderTools.DuckDbRead(Extract(Assert.Single(snappy.Files), _temp.Path)))
        {
            Assert.Equal(["SNAPPY"], read.RootElement.GetProperty("codecs").EnumerateArray().Select(c => c.GetString()));
        }
    }

    [DuckDbFact]
    public void RecordLimit_SplitsIntoParquetFiles_EachReadableWithItsRows()
    {
        var set = WriteParquet(Columns, TestRows(5), maxRecords: 2);

        Assert.Equal([2L, 2L, 1L], set.Files.Select(f => f.Records));
        foreach (var file in set.Files)
        {
            using var read = ReaderTools.DuckDbRead(Extract(file, _temp.Path));
            Assert.Equal(file.Records, read.RootElement.GetProperty("rows").GetArrayLength());
        }
    }

    [Fact]
    public void SameRows_GiveTheSameBytes_AndTheZipStoresTheFileBesideItsDdl()
    {
        var first = WriteParquet(Columns, TestRows(30));
        Assert.Equal(first.ContentSha256, WriteParquet(Columns, TestRows(30)).ContentSha256);
        var file = Assert.Single(first.Files);
        var entries = FormatTestData.ReadZip(file.LocalPath);
        var data = entries[file.InnerFileName];
        Assert.Equal("PAR1", System.Text.Encoding.ASCII.GetString(data, 0, 4));
        Assert.Equal("PAR1", System.Text.Encoding.ASCII.GetString(data, data.Length - 4, 4));
        // Stored, not deflated: the entry is the Parquet file's bytes; the DDL companion beside it is deflated.
        using (var zip = System.IO.Compression.ZipFile.OpenRead(file.LocalPath))
        {
            var entry = zip.GetEntry(file.InnerFileName)!;
            Assert.Equal(entry.Length, entry.CompressedLength);
            Assert.StartsWith("CREATE TABLE ", System.Text.Encoding.UTF8.GetString(entries[Path.ChangeExtension(file.InnerFileName, ".sql")]), StringComparison.Ordinal);
        }
        FormatTestData.UnzipTest(file.LocalPath);
    }
}
