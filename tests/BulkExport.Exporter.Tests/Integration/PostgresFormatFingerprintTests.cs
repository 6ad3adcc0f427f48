using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;
using BulkExport.Exporter.Tests.Support;

namespace BulkExport.Exporter.Tests.Integration;

/// <summary>
/// verify's CSV and GEOJSON readers against what the PostgreSQL source publishes: PostgreSQL's own type
/// names in the DDL (numeric(45,5), varchar, intervals, arrays), and PostGIS geometry in an SRID other
/// than 4326, whose GeoJSON carries a crs member the WKT does not.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresFormatFingerprintTests(PostgresFixture pg)
{
    [Theory]
    [InlineData(OutputFormats.Csv)]
    [InlineData(OutputFormats.GeoJson)]
    public async Task A_postgres_register_in_one_format_verifies_from_its_files_alone(string format)
    {
        var table = "fmt_" + format.ToLowerInvariant();
        var postgis = pg.PostgisAvailable;
        await pg.ExecuteAsync($$"""
            DROP TABLE IF EXISTS public.{{table}};
            CREATE TABLE public.{{table}} (
              id integer PRIMARY KEY, n numeric(45,5), f4 real, f8 double precision, t text, vc varchar(10), b boolean,
              d date, ts timestamp(3), tstz timestamp with time zone, u uuid, j json, jb jsonb, a integer[], ta text[],
              na numeric[], by bytea, iv interval{{(postgis ? ", g geometry(Point, 25832)" : "")}});
            INSERT INTO public.{{table}} VALUES
              (1, 1234567890.12345, 1.5, 0.1, 'æøå "quoted", comma', 'short', true, '2024-02-29', '2024-01-02 03:04:05.123',
               '2024-06-01 12:00:00+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, null]}', '{"b": {"c": "d"} }',
               '{1,NULL,3}', '{"x","y z","NULL",""}', '{1.10,NULL}', '\x00ff10', '1 day 02:00:00'{{(postgis ? ", 'SRID=25832;POINT(725000.125 6175000.5)'" : "")}}),
              (2, 'NaN', 'Infinity', -0.5, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '[]', '{}', '{}', NULL, '\x', NULL{{(postgis ? ", NULL" : "")}});
            """);
        var entity = new EntitySpec { Name = "Fmt", Table = "public." + table, Key = ["id"], Geometry = postgis ? new GeometrySpec { Column = "g" } : null };
        using var h = new ExportHarness(s =>
        {
            s.Entities = [entity];
            s.Output.Formats = [format];
        });
        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [entity], pg.ConnectionString);
        await h.RunAsync(RunKind.Total, source: source);
        await pg.ExecuteAsync($"UPDATE public.{table} SET t = 'ændret' WHERE id = 1; INSERT INTO public.{table} (id, t) VALUES (3, 'ny');");
        await h.RunAsync(RunKind.Delta, source: source);

        if (postgis)
        {
            // The case this test is for: the SRID is in the DDL (CSV) or the crs member (GEOJSON), never in the WKT.
            var total = (await h.CatalogAsync()).Files.First(f => f.TypeOfDownload == "TotalDownload");
            using var zip = System.IO.Compression.ZipFile.OpenRead(h.Store.FilePath(total.Key));
            var text = string.Concat(zip.Entries.Select(e => new StreamReader(e.Open()).ReadToEnd()));
            Assert.Contains(format == OutputFormats.Csv ? "geometry(Point,25832)" : "\"name\":\"EPSG:25832\"", text, StringComparison.Ordinal);
        }

        var report = await h.VerifyAsync();

        Assert.True(report.Ok, string.Join("\n", report.Problems));
        Assert.Equal((await h.CatalogAsync()).Files.Count, report.FingerprintedFiles);
        Assert.True(report.Replays >= 2, $"{report.Replays} replays");
    }
}
