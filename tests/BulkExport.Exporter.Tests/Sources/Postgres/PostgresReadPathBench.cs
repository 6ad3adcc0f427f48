using System.Diagnostics;
using System.Globalization;
using BulkExport.Api;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;
using Xunit.Abstractions;

namespace BulkExport.Exporter.Tests.Sources.Postgres;

/// <summary>
/// The Npgsql read path on its own: binary COPY of the bench entity, unsorted and sorted by key
/// (bench/generate.sql). Runs only when <c>BULKEXPORT_BENCH_ROWS</c> is set, e.g.
/// <c>BULKEXPORT_BENCH_ROWS=1000000 dotnet test -c Release --filter ReadPathBench --logger "console;verbosity=detailed"</c>;
/// otherwise it returns at once so `make test` stays fast.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresReadPathBench(PostgresFixture pg, ITestOutputHelper output)
{
    private long _peakWorkingSet;

    [Fact]
    public async Task ReadPathBench_BinaryCopy_UnsortedAndSorted()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("BULKEXPORT_BENCH_ROWS"), CultureInfo.InvariantCulture, out var rows) || rows <= 0)
        {
            return;
        }

        var script = await File.ReadAllTextAsync(FindBenchFile("generate.sql"));
        var generate = Stopwatch.StartNew();
        // VACUUM cannot share a multi-statement batch; it runs on its own.
        await pg.ExecuteAsync(script
            .Replace("generate_series(1, :n)", $"generate_series(1, {rows})", StringComparison.Ordinal)
            .Replace("VACUUM ANALYZE public.bench;", "", StringComparison.Ordinal));
        await pg.ExecuteAsync("VACUUM ANALYZE public.bench");
        output.WriteLine($"generated {rows:N0} rows in {generate.Elapsed.TotalSeconds:F1} s");

        var entity = new EntitySpec { Name = "Bench", Table = "public.bench", Key = ["id"] };
        GC.Collect();
        var before = Environment.WorkingSet;
        foreach (var sorted in new[] { false, true })
        {
            var times = new List<double>();
            for (var round = 0; round < 3; round++)
            {
                var (count, seconds) = await ReadAsync(entity, sorted);
                Assert.Equal(rows, count);
                times.Add(seconds);
            }

            times.Sort();
            output.WriteLine($"copy       sorted={sorted,-5} min {times[0]:F2} s ({rows / times[0]:N0} rows/s), median {times[1]:F2} s, max {times[2]:F2} s");
        }

        output.WriteLine($"working set: before reads {before / 1048576} MiB, peak while reading {_peakWorkingSet / 1048576} MiB");

        // The floor under both: the same COPY with every value skipped, not decoded (server + wire only).
        string sql;
        await using (var snapshot = await new PostgresSource(new PostgresSourceSpec(), [entity], pg.ConnectionString).OpenSnapshotAsync(CancellationToken.None))
        await using (var probe = (PostgresRowReader)await snapshot.ReadAsync(entity, new ReadRequest(false), CancellationToken.None))
        {
            sql = probe.Sql;
        }

        for (var run = 0; run < 2; run++)
        {
            var clock = Stopwatch.StartNew();
            await using var connection = new Npgsql.NpgsqlConnection(pg.ConnectionString);
            await connection.OpenAsync();
            long count = 0;
            await using (var copy = await connection.BeginBinaryExportAsync($"COPY ({sql}) TO STDOUT (FORMAT BINARY)"))
            {
                int columns;
                while ((columns = await copy.StartRowAsync()) >= 0)
                {
                    for (var i = 0; i < columns; i++)
                    {
                        await copy.SkipAsync();
                    }

                    count++;
                }
            }

            output.WriteLine($"COPY skip  (no decoding) {count:N0} rows in {clock.Elapsed.TotalSeconds:F2} s = {count / clock.Elapsed.TotalSeconds:N0} rows/s");
        }

        if (pg.PostgisAvailable)
        {
            await pg.ExecuteAsync($"""
                DROP TABLE IF EXISTS bench_geo;
                CREATE TABLE bench_geo AS SELECT i AS id, ST_SetSRID(ST_MakePoint(8 + (i % 5000) / 1000.0, 54 + (i % 3000) / 1000.0), 4326) AS geom
                FROM generate_series(1, {rows}) i;
                """);
            var geo = new EntitySpec { Name = "Geo", Table = "bench_geo", Key = ["id"] };
            var raw = new EntitySpec { Name = "GeoWkb", Query = "SELECT id, ST_AsBinary(geom) AS wkb FROM bench_geo", Key = ["id"] };
            foreach (var e in new[] { geo, raw, geo, raw })
            {
                var (count, seconds) = await ReadAsync(e, false, geo, raw);
                output.WriteLine($"{e.Name,-10} (GeoJSON+WKT by PostGIS vs raw WKB) {count:N0} rows in {seconds:F2} s = {count / seconds:N0} rows/s");
            }
        }
    }

    private async Task<(long Count, double Seconds)> ReadAsync(EntitySpec entity, bool sorted, params EntitySpec[] all)
    {
        var source = new PostgresSource(new PostgresSourceSpec(), all.Length > 0 ? all : [entity], pg.ConnectionString);
        var clock = Stopwatch.StartNew();
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(sorted), CancellationToken.None);
        long count = 0;
        while (await reader.ReadAsync(CancellationToken.None))
        {
            if (++count % 50_000 == 0)
            {
                _peakWorkingSet = Math.Max(_peakWorkingSet, Environment.WorkingSet);
            }
        }

        return (count, clock.Elapsed.TotalSeconds);
    }

    private static string FindBenchFile(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "bench", name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"bench/{name} not found above {AppContext.BaseDirectory}");
    }
}
