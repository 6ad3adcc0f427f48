using System.Collections.Concurrent;
using BulkExport.Api;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;
using BulkExport.Exporter.Tests.Support;
using Microsoft.Extensions.Logging;

namespace BulkExport.Exporter.Tests.Sources.Postgres;

/// <summary>
/// A sorted read's COPY ships geometries without ST_NPoints; at the first geometry whose EWKB cannot
/// tell <c>POINT EMPTY</c> from <c>POINT(NaN NaN)</c> the raw decoder reads again with the counts,
/// passing over the rows it has. Its values must be those of the Npgsql decoder, which always reads
/// the counts, at every boundary: empty and NaN points (also inside collections), empty collections,
/// NULL, and a table without any ambiguous geometry (no restart at all).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PointCountRestartTests(PostgresFixture pg)
{
    private static readonly string[] Boundaries =
    [
        "'POINT EMPTY'",
        "'SRID=4326;POINT EMPTY'",
        "'POINT(NaN NaN)'",
        "'POINT(NaN 1)'",
        "'POINT Z EMPTY'",
        "'GEOMETRYCOLLECTION EMPTY'",
        "'MULTIPOINT EMPTY'",
        "'LINESTRING EMPTY'",
        "'POLYGON EMPTY'",
        "'GEOMETRYCOLLECTION(POINT EMPTY, POINT(1 2))'",
        "'MULTIPOINT(EMPTY, (1 2))'",
        "NULL",
    ];

    private async Task<EntitySpec> CreateAsync(string table, bool withBoundaries)
    {
        // 3,000 plain points; the boundary values replace rows 1,234 onwards, every 97th, so the restart
        // comes after many batches and later boundaries arrive on the COPY that has the counts.
        var cases = withBoundaries
            ? string.Join(" ", Boundaries.Select((b, i) => $"WHEN {1234 + (i * 97)} THEN {b}::geometry"))
            : "";
        var geometry = withBoundaries
            ? $"CASE i {cases} ELSE ST_SetSRID(ST_MakePoint(8 + i / 1000.0, 54 - i / 7.0), 4326) END"
            : "ST_SetSRID(ST_MakePoint(8 + i / 1000.0, 54 - i / 7.0), 4326)";
        await pg.ExecuteAsync($"""
            DROP TABLE IF EXISTS public.{table};
            CREATE TABLE public.{table} AS SELECT i AS id, 'n' || i AS name, {geometry} AS g FROM generate_series(1, 3000) AS i;
            ALTER TABLE public.{table} ADD PRIMARY KEY (id);
            """);
        return new EntitySpec { Name = table, Table = "public." + table, Key = ["id"] };
    }

    /// <summary>The Npgsql decoder row by row (it fills no batches); the raw decoder through batches of 100 rows, so a restart lands mid-batch.</summary>
    private async Task<List<object?[]>> ReadAsync(EntitySpec entity, PostgresCopyDecoder decoder, ILogger? logger = null)
    {
        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [entity], pg.ConnectionString, logger) { Decoder = decoder };
        var request = new ReadRequest(SortByKey: true);
        return decoder == PostgresCopyDecoder.Raw
            ? await SourceReads.ReadBatchedAsync(source, entity, request, rowsPerBatch: 100)
            : (await SourceReads.ReadAllAsync(source, entity, request)).Rows;
    }

    [Fact]
    public async Task AmbiguousGeometries_RestartOnceWithPointCounts_AndGiveTheNpgsqlDecodersValues()
    {
        if (!pg.PostgisAvailable)
        {
            return;
        }

        var entity = await CreateAsync("point_count_restart", withBoundaries: true);
        var logger = new EventLogger();
        var expected = await ReadAsync(entity, PostgresCopyDecoder.Npgsql);
        var actual = await ReadAsync(entity, PostgresCopyDecoder.Raw, logger);

        Assert.Equal(3000, expected.Count);
        Assert.Equal(expected.Count, actual.Count);
        for (var r = 0; r < expected.Count; r++)
        {
            Assert.Equal(expected[r][0], actual[r][0]);
            Assert.Equal(expected[r][1], actual[r][1]);
            Assert.Equal(expected[r][2], actual[r][2]);
        }

        // The first all-NaN point (row 1,234, POINT EMPTY) restarted the COPY once, after 1,233 rows.
        Assert.Equal([1233L], logger.Restarts);
        var empty = (GeometryValue)actual[1233][2]!;
        Assert.Equal("{\"type\":\"Point\",\"coordinates\":[]}", empty.GeoJson);
        Assert.Equal("POINT EMPTY", empty.Wkt);
        var nan = (GeometryValue)actual[1233 + (2 * 97)][2]!;
        Assert.Contains("NaN", nan.Wkt, StringComparison.Ordinal);
        Assert.Null(actual[1233 + (11 * 97)][2]);
    }

    [Fact]
    public async Task NoAmbiguousGeometry_ReadsWithoutPointCounts_AndNeverRestarts()
    {
        if (!pg.PostgisAvailable)
        {
            return;
        }

        var entity = await CreateAsync("point_count_plain", withBoundaries: false);
        var logger = new EventLogger();
        var expected = await ReadAsync(entity, PostgresCopyDecoder.Npgsql);
        var actual = await ReadAsync(entity, PostgresCopyDecoder.Raw, logger);

        Assert.Equal(3000, actual.Count);
        Assert.Equal(expected.Select(r => r[2]), actual.Select(r => r[2]));
        Assert.Empty(logger.Restarts);
        Assert.DoesNotContain("ST_NPoints", logger.Statement, StringComparison.Ordinal);
    }

    /// <summary>Collects the restarts (EventId 2110) and the statement a read started with.</summary>
    private sealed class EventLogger : ILogger
    {
        private readonly ConcurrentQueue<long> _restarts = new();

        public IReadOnlyList<long> Restarts => [.. _restarts];

        public string Statement { get; private set; } = "";

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (state is not IReadOnlyList<KeyValuePair<string, object?>> values)
            {
                return;
            }

            switch (eventId.Id)
            {
                case 2110:
                    _restarts.Enqueue((long)values.First(v => v.Key == "Row").Value!);
                    break;
                case 2101:
                    Statement = (string)values.First(v => v.Key == "Sql").Value!;
                    break;
            }
        }
    }
}
