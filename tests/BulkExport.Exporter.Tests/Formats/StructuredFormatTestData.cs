using System.Globalization;
using System.IO.Compression;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Formats.Geo;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;

namespace BulkExport.Exporter.Tests.Formats;

/// <summary>An address-like entity covering every column kind, with a point geometry in EPSG:25832.</summary>
internal static class StructuredFormatTestData
{
    public static readonly DateTimeOffset Generated = new(2025, 6, 1, 4, 0, 0, TimeSpan.Zero);

    public static readonly Column[] Columns =
    [
        new("id", ColumnKind.Integer, Nullable: false),
        new("name", ColumnKind.Text),
        new("amount", ColumnKind.Decimal, SqlType: "numeric(12,2)"),
        new("big", ColumnKind.Decimal),
        new("ratio", ColumnKind.Float),
        new("active", ColumnKind.Boolean),
        new("day", ColumnKind.Date),
        new("seen", ColumnKind.Timestamp),
        new("changed", ColumnKind.TimestampTz),
        new("uid", ColumnKind.Uuid),
        new("doc", ColumnKind.Json),
        new("raw", ColumnKind.Bytes),
        new("tags", ColumnKind.Array, ElementKind: ColumnKind.Text),
        new("geom", ColumnKind.Geometry),
    ];

    public static EntityGeometry Entity(int? epsg = null) => new("Adresse", "geom", epsg, ["id"]);

    public static readonly Column[] ZColumns = [new("id", ColumnKind.Integer, Nullable: false), new("geom", ColumnKind.Geometry)];

    /// <summary>3D points (PostGIS's <c>POINT Z</c>), one without a geometry; the Z values are not integers, so a rounding shows.</summary>
    public static List<object?[]> ZPointRows() =>
    [
        [1L, new GeometryValue("{}", "POINT Z (720001 6170002 12.5)", 25832)],
        [2L, new GeometryValue("{}", "POINT Z (720003 6170004 -3.25)", 25832)],
        [3L, null],
    ];

    /// <summary>A measured point: no structured format here carries M, so writing it must fail, not drop it.</summary>
    public static List<object?[]> MPointRows() => [[1L, new GeometryValue("{}", "POINT M (720001 6170002 7)", 25832)]];

    public static Guid Uid(int i) => new(i, 7, 9, [1, 2, 3, 4, 5, 6, 7, 8]);

    /// <summary>Row i (1-based); the last of <paramref name="count"/> is NULL in every column but id and geom.</summary>
    public static object?[] Row(int i, int count)
    {
        var x = 720000 + i;
        var y = 6170000 + (i * 2);
        var geometry = new GeometryValue($"{{\"type\":\"Point\",\"coordinates\":[{x},{y}]}}", $"POINT ({x} {y})", 25832);
        if (i == count)
        {
            var nulls = new object?[Columns.Length];
            nulls[0] = (long)i;
            nulls[^1] = geometry;
            return nulls;
        }

        return
        [
            (long)i,
            $"Æblevej {i} <&> \"st.\"",
            new DecimalText($"{i}.25"),
            new DecimalText("12345678901234567890.000000000000000001"),
            i * 0.5,
            i % 2 == 0,
            new DateOnly(2024, 1, 1).AddDays(i),
            new DateTime(2024, 3, 1, 13, 14, 15, DateTimeKind.Unspecified).AddSeconds(i).AddTicks(10),
            new DateTimeOffset(2024, 3, 1, 12, 0, 0, TimeSpan.Zero).AddMinutes(i),
            Uid(i),
            new RawJson($"{{\"n\":{i}}}"),
            new byte[] { 0, (byte)i, 255 },
            new object?[] { "a", $"t{i}" },
            geometry,
        ];
    }

    public static List<object?[]> TestRows(int count) => [.. Enumerable.Range(1, count).Select(i => Row(i, count))];

    public static DataFileSetOptions Options(string temp, long? maxRecords = null, long maxBytes = 1L << 30) =>
        new((part, count) => count == 1 ? "DAR_V1_Adresse_TotalDownload_X_Current_3" : $"DAR_V1_Adresse_TotalDownload_X_Current_3_part{part}of{count}", "Adresse", ["id"], temp, maxBytes, maxRecords, Generated);

    public static DataFileSet Write(IDataFileSetWriter writer, IReadOnlyList<Column> columns, IEnumerable<object?[]> rows)
    {
        using (writer)
        {
            var digest = new byte[RowDigest.Length];
            using var digester = new RowDigest(columns);
            foreach (var row in rows)
            {
                digester.Compute(row, digest);
                writer.Write(row, digest);
            }

            return writer.Complete();
        }
    }

    /// <summary>Extracts every entry of a published zip into a fresh directory; returns the data file's path.</summary>
    public static string Extract(StagedFile file, string temp)
    {
        var dir = Path.Combine(temp, "x-" + Guid.NewGuid().ToString("N"));
        ZipFile.ExtractToDirectory(file.LocalPath, dir);
        return Path.Combine(dir, file.InnerFileName);
    }

    /// <summary>Rows of an <c>ogr2ogr -f CSV</c> output by column name (its first line is the header).</summary>
    public static List<Dictionary<string, string?>> ParseOgrCsv(string csv)
    {
        var records = TestCsv.Parse(csv.Replace("\n", "\r\n", StringComparison.Ordinal));
        var header = records[0];
        return [.. records.Skip(1).Select(r => header.Select((h, i) => (h!, r[i])).ToDictionary(p => p.Item1, p => p.Item2))];
    }
}
