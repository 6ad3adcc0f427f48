using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;
using BulkExport.Exporter.Tests.Support;

namespace BulkExport.Exporter.Tests.Integration;

/// <summary>
/// verify's GPKG, GML and PARQUET readers against what the PostgreSQL source publishes: PostgreSQL's type
/// names (numeric(12,2) a GeoPackage stores as REAL, numeric(45,5) and NaN as text, JSON, arrays,
/// intervals), typed by the register's CSV DDL, and PostGIS geometry in EPSG:25832, whose GeoJSON
/// carries the crs member the structured files record as their CRS.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresStructuredFormatVerifyTests(PostgresFixture pg)
{
    [Theory]
    [InlineData(OutputFormats.GeoPackage)]
    [InlineData(OutputFormats.Gml)]
    [InlineData(OutputFormats.Parquet)]
    public async Task A_postgres_register_in_a_structured_format_verifies_from_its_files(string format)
    {
        var postgis = pg.PostgisAvailable;
        if (format == OutputFormats.Gml && !postgis)
        {
            // GML is only offered for an entity with a geometry.
            return;
        }

        var table = "sfmt_" + format.ToLowerInvariant();
        await pg.ExecuteAsync($$"""
            DROP TABLE IF EXISTS public.{{table}};
            CREATE TABLE public.{{table}} (
              id integer PRIMARY KEY, m numeric(12,2), n numeric(45,5), f4 real, f8 double precision, t text, vc varchar(10), b boolean,
              d date, ts timestamp(3), tstz timestamp with time zone, u uuid, j json, jb jsonb, a integer[], ta text[],
              by bytea, iv interval{{(postgis ? ", g geometry(Point, 25832)" : "")}});
            INSERT INTO public.{{table}} VALUES
              (1, 1.50, 1234567890.12345, 1.5, 0.1, 'æøå "quoted", <comma> & more', 'short', true, '2024-02-29', '2024-01-02 03:04:05.123',
               '2024-06-01 12:00:00+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, null]}', '{"b": {"c": "d"} }',
               '{1,NULL,3}', '{"x","y z","NULL",""}', '\x00ff10', '1 day 02:00:00'{{(postgis ? ", 'SRID=25832;POINT(725000.125 6175000.5)'" : "")}}),
              (2, -12.00, 'NaN', 'Infinity', -0.5, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '[]', '{}', '{}', '\x', NULL{{(postgis ? ", 'SRID=25832;POINT(720000 6170000.75)'" : "")}});
            """);
        var entity = new EntitySpec { Name = "Fmt", Table = "public." + table, Key = ["id"], Geometry = postgis ? new GeometrySpec { Column = "g" } : null };
        using var h = new ExportHarness(s =>
        {
            s.Entities = [entity];
            s.Output.Formats = [format, OutputFormats.Csv];
        });
        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [entity], pg.ConnectionString);
        await h.RunAsync(RunKind.Total, source: source);
        await pg.ExecuteAsync($"UPDATE public.{table} SET t = 'ændret', m = 7.25 WHERE id = 1; INSERT INTO public.{table} (id, t) VALUES (3, 'ny');");
        await h.RunAsync(RunKind.Delta, source: source);
        var catalog = await h.CatalogAsync();
        Assert.Contains(catalog.Files, f => f.ContainedFileFormat == format && f.TypeOfDownload == "DeltaDownload" && f.RecordCount == 2);

        var report = await h.VerifyAsync();

        Assert.True(report.Ok, string.Join("\n", report.Problems));
        Assert.Equal(catalog.Files.Count, report.FingerprintedFiles);
        Assert.True(report.Replays >= 2, $"{report.Replays} replays");
    }

    [Theory]
    [InlineData(OutputFormats.GeoPackage)]
    [InlineData(OutputFormats.Gml)]
    [InlineData(OutputFormats.Parquet)]
    public async Task A_postgis_register_of_3d_geometries_keeps_the_z_in_a_structured_format_and_verifies_green(string format)
    {
        if (!pg.PostgisAvailable)
        {
            // Like the test above: without PostGIS there is no geometry to export.
            return;
        }

        var table = "sfmt_z_" + format.ToLowerInvariant();
        await pg.ExecuteAsync($"""
            DROP TABLE IF EXISTS public.{table};
            CREATE TABLE public.{table} (id integer PRIMARY KEY, g geometry(GeometryZ, 25832));
            INSERT INTO public.{table} VALUES
              (1, 'SRID=25832;POINT Z (725000.125 6175000.5 12.25)'),
              (2, 'SRID=25832;LINESTRING Z (720000 6170000 1, 720010 6170010 -2.5)'),
              (3, 'SRID=25832;POLYGON Z ((720000 6170000 3, 720010 6170000 4, 720010 6170010 5, 720000 6170000 3))'),
              (4, NULL);
            """);
        var entity = new EntitySpec { Name = "FmtZ", Table = "public." + table, Key = ["id"], Geometry = new GeometrySpec { Column = "g" } };
        using var h = new ExportHarness(s =>
        {
            s.Entities = [entity];
            s.Output.Formats = [format, OutputFormats.JsonLines];
        });
        await h.RunAsync(RunKind.Total, source: new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [entity], pg.ConnectionString));
        var catalog = await h.CatalogAsync();
        Assert.Contains(catalog.Files, f => f.ContainedFileFormat == format && f.RecordCount == 4);

        var report = await h.VerifyAsync();

        // GeoJSON (ST_AsGeoJSON) has the Z as a third position; a format that dropped it would be a mismatch here.
        Assert.True(report.Ok, string.Join("\n", report.Problems));
        Assert.Equal(catalog.Files.Count, report.FingerprintedFiles);
    }
}
