using System.Diagnostics;
using System.Globalization;
using BulkExport.Api;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Formats.Geo;
using BulkExport.Exporter.Rows;
using Xunit.Abstractions;

namespace BulkExport.Exporter.Tests.Formats;

/// <summary>
/// What the structured writers cost alone, without a source or the delta stage: N rows of the
/// formats bench's shapes (bench/formats-bench.sh) through <see cref="DataFileSetWriter"/>, from rows
/// built beforehand, with the time split into the rows' loop and the finish (R-tree, footer, zip).
/// Runs only when <c>BULKEXPORT_BENCH_ROWS</c> is set, e.g. <c>BULKEXPORT_BENCH_ROWS=1000000 dotnet test -c Release
/// --filter FormatWriterBench --logger "console;verbosity=detailed"</c>.
/// </summary>
public sealed class FormatWriterBench(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void FormatWriterBench_GpkgPointsAndParquetRows_LoopAndFinish()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("BULKEXPORT_BENCH_ROWS"), CultureInfo.InvariantCulture, out var n) || n <= 0)
        {
            return;
        }

        Column[] points = [new("id", ColumnKind.Integer), new("name", ColumnKind.Text), new("postnr", ColumnKind.Integer), new("geom", ColumnKind.Geometry)];
        object?[] Point(int i)
        {
            var (x, y) = (440000 + (i % 4500 * 100) + (i % 7), 6050000 + (i / 4500 * 3) + (i % 11));
            return [(long)i, $"Vej {i % 5000} {i % 97}", (long)((i % 9000) + 1000), new GeometryValue("{}", $"POINT({x} {y})", 25832)];
        }

        Column[] flat = [new("id", ColumnKind.Integer), new("name", ColumnKind.Text), new("amount", ColumnKind.Decimal, SqlType: "numeric(12,2)"), new("day", ColumnKind.Date), new("active", ColumnKind.Boolean), new("score", ColumnKind.Float)];
        object?[] Flat(int i) =>
            [(long)i, $"Vej {i % 5000} {i % 97}", new DecimalText($"{i % 100000}.{i % 100:00}"), new DateOnly(2024, 1 + (i % 12), 1 + (i % 28)), i % 3 != 0, (i * 7919L) % 1000003 / 7.0];

        // The files source's CSV columns are all text.
        Column[] text = [.. flat.Select(c => new Column(c.Name, ColumnKind.Text))];
        object?[] Text(int i) => [.. Flat(i).Select(v => v switch { DecimalText d => d.Text, IFormattable f => f.ToString(null, CultureInfo.InvariantCulture), var o => o?.ToString() })];

        var entity = new EntityGeometry("Bench", "geom", 25832, ["id"]);
        Run("PARQUET text (the files source's CSV)", new ParquetFormat(entity with { GeometryColumn = null, Epsg = null }, ParquetCompression.Zstd), text, Text, n);
        Run("GPKG points", new GeoPackageFormat(entity, StructuredFormatTestData.Generated), points, Point, n);
        Run("PARQUET flat", new ParquetFormat(entity with { GeometryColumn = null, Epsg = null }, ParquetCompression.Zstd), flat, Flat, n);
        Run("GPKG flat (attributes)", new GeoPackageFormat(entity with { GeometryColumn = null, Epsg = null }, StructuredFormatTestData.Generated), flat, Flat, n);
    }

    private void Run(string label, IOutputFormat format, Column[] columns, Func<int, object?[]> make, int n)
    {
        // Rows are built before the clock starts, 64k at a time, so what is timed is the writer.
        var batch = Enumerable.Range(0, 65536).Select(i => make(i + 1)).ToArray();
        var digest = new byte[32];
        var options = StructuredFormatTestData.Options(_temp.Path);
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var watch = Stopwatch.StartNew();
        using var writer = new DataFileSetWriter(format, columns, options);
        for (var i = 1; i <= n; i++)
        {
            var row = batch[(i - 1) % batch.Length];
            row[0] = columns[0].Kind == ColumnKind.Text ? i.ToString(CultureInfo.InvariantCulture) : (long)i;
            writer.Write(row, digest);
        }

        var loop = watch.Elapsed.TotalSeconds;
        var set = writer.Complete();
        var total = watch.Elapsed.TotalSeconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        output.WriteLine($"{label}: {n} rows, loop {loop:F2} s, finish {total - loop:F2} s, total {total:F2} s, allocated {allocated / 1e6:F0} MB, file {set.UncompressedBytes / 1e6:F1} MB, zip {set.Files.Sum(f => f.SizeBytes) / 1e6:F1} MB");
        Assert.Equal(n, set.Records);
        foreach (var file in set.Files)
        {
            File.Delete(file.LocalPath);
        }
    }
}
