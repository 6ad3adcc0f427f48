using System.Text;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;
using Npgsql;
using NpgsqlTypes;

namespace BulkExport.Exporter.Tests.Sources.Postgres;

/// <summary>
/// The oracle for <see cref="PostgisText"/>: the installed PostGIS renders every geometry with
/// ST_AsGeoJSON(g, 15) and ST_AsText(g, 15), and the exporter's rendering of the same geometry's EWKB
/// (what the projection ships now) must give the same bytes, the same SRID, or the same error.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgisTextOracleTests(PostgresFixture pg)
{
    private static readonly string[] Shapes =
    [
        "POINT(0.1 0.2)", "SRID=25832;POINT(1 2)", "SRID=4326;POINT(1 2)", "SRID=3857;POINT(-1 -2)", "SRID=37227;POINT(3 4)",
        "POINT(12345.678901234567 -0.0)", "POINT(1e15 1e16)", "POINT(999999999999999.9 123456789012345.67)",
        "POINT(1e-12 1.5e-12)", "POINT(1e-8 1.0000000000000002e-8)", "POINT(1e-11 1.23456789e-7)", "POINT(1.7976931348623157e308 -1e300)",
        "POINT(0.30000000000000004 2.5e-5)", "POINT(5e-324 -1e-320)", "POINT(123456789012.123456789 0.000000000012345)",
        "POINT(0.1000000000000005 0.1000000000000015)", "POINT(9.9999999999999995 0.99999999999999994)", "POINT(1e23 9.999999999999999e22)",
        "POINT EMPTY", "SRID=25832;POINT EMPTY", "LINESTRING EMPTY", "POLYGON EMPTY", "MULTIPOINT EMPTY", "MULTILINESTRING EMPTY",
        "MULTIPOLYGON EMPTY", "GEOMETRYCOLLECTION EMPTY", "POINT Z EMPTY", "POLYGON Z EMPTY", "GEOMETRYCOLLECTION Z EMPTY", "MULTIPOINT Z EMPTY",
        "POINT Z (1 2 3)", "POINT M (1 2 3)", "POINT ZM (1 2 3 4)", "LINESTRING M (0 0 1,1 1 2)", "LINESTRING ZM (0 0 1 2,1 1 2 3)",
        "SRID=25832;LINESTRING(1 2, 3 4.000000000000001)", "MULTIPOINT((1 2),(3 4))", "MULTIPOINT(EMPTY,(3 4))", "MULTIPOINT(EMPTY)",
        "MULTIPOINT(EMPTY,EMPTY)", "MULTIPOINT ZM ((1 2 3 4))",
        "POLYGON((0 0,1 0,1 1,0 0),(0.1 0.1,0.2 0.1,0.2 0.2,0.1 0.1))", "SRID=25832;POLYGON Z ((0 0 1,1 0 1,1 1 1,0 0 1))",
        "MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))", "MULTIPOLYGON(EMPTY)", "MULTIPOLYGON(EMPTY,((0 0,1 0,1 1,0 0)))",
        "SRID=25832;MULTIPOLYGON(EMPTY)", "MULTILINESTRING((0 0,1 1),(2 2,3 3))", "MULTILINESTRING(EMPTY)", "MULTILINESTRING(EMPTY,(0 0,1 1))",
        "SRID=3857;GEOMETRYCOLLECTION(POINT(1 2))", "GEOMETRYCOLLECTION(POINT EMPTY,POINT(1 2))", "GEOMETRYCOLLECTION(POINT EMPTY)",
        "GEOMETRYCOLLECTION(MULTIPOINT EMPTY, POLYGON EMPTY)", "GEOMETRYCOLLECTION(GEOMETRYCOLLECTION EMPTY)",
        "GEOMETRYCOLLECTION(POINT(1 2),MULTIPOINT EMPTY)", "GEOMETRYCOLLECTION(POINT(1 1),MULTIPOLYGON(EMPTY))",
        "GEOMETRYCOLLECTION(POINT(1 1),MULTIPOLYGON(EMPTY,((0 0,1 0,1 1,0 0))))", "GEOMETRYCOLLECTION(POINT(1 1),TRIANGLE EMPTY)",
        "GEOMETRYCOLLECTION Z (POINT Z (1 2 3),LINESTRING Z (0 0 0,1 1 1),MULTIPOINT Z ((1 2 3)))", "GEOMETRYCOLLECTION M (POINT M (1 2 3))",
        "GEOMETRYCOLLECTION ZM (POINT ZM (1 2 3 4))", "GEOMETRYCOLLECTION(TRIANGLE((0 0,1 0,1 1,0 0)))",
        "GEOMETRYCOLLECTION(CIRCULARSTRING EMPTY)", "GEOMETRYCOLLECTION(TIN EMPTY)", "GEOMETRYCOLLECTION(COMPOUNDCURVE EMPTY,MULTISURFACE EMPTY)",
        "TRIANGLE((0 0,1 0,1 1,0 0))", "TRIANGLE EMPTY", "SRID=25832;TRIANGLE EMPTY", "TRIANGLE Z ((0 0 1,1 0 1,1 1 1,0 0 1))",
        "TIN Z (((0 0 0,1 0 0,1 1 0,0 0 0)),((0 0 0,1 1 0,0 1 0,0 0 0)))", "TIN EMPTY", "TIN(((0 0,1 0,1 1,0 0)))",
    ];

    /// <summary>Where PostGIS's ST_AsGeoJSON raises an error, the rendering raises one with its message.</summary>
    private static readonly string[] Refused =
    [
        "CIRCULARSTRING(0 0,1 1,2 0)", "CIRCULARSTRING EMPTY", "POLYHEDRALSURFACE EMPTY", "POLYHEDRALSURFACE(((0 0,1 0,1 1,0 0)))",
        "MULTICURVE EMPTY", "COMPOUNDCURVE((0 0,1 1),CIRCULARSTRING(1 1,2 2,3 1))", "CURVEPOLYGON EMPTY", "MULTISURFACE EMPTY",
        "GEOMETRYCOLLECTION(POINT(1 2),GEOMETRYCOLLECTION EMPTY)", "GEOMETRYCOLLECTION(POINT(1 2),GEOMETRYCOLLECTION(POINT EMPTY))",
        "GEOMETRYCOLLECTION(TIN(((0 0,1 0,1 1,0 0))))", "GEOMETRYCOLLECTION(POINT(1 1),TIN EMPTY)",
        "GEOMETRYCOLLECTION(POINT(1 1),CIRCULARSTRING EMPTY)", "SRID=999999;POINT(1 2)",
    ];

    [Fact]
    public async Task EveryGeometryTypeEmptyZmAndSrid_RendersTheServersBytes()
    {
        Assert.True(pg.PostgisAvailable, "the oracle needs PostGIS in the test cluster");
        await pg.ExecuteAsync("DROP TABLE IF EXISTS public.oracle_shapes; CREATE TABLE public.oracle_shapes (id int, g geometry)");
        await using (var connection = await OpenAsync())
        {
            for (var i = 0; i < Shapes.Length; i++)
            {
                await using var insert = new NpgsqlCommand("INSERT INTO public.oracle_shapes VALUES ($1, $2::geometry)", connection);
                insert.Parameters.AddWithValue(i);
                insert.Parameters.AddWithValue(Shapes[i]);
                await insert.ExecuteNonQueryAsync();
            }
        }

        // NaN coordinates, which EWKB writes like an empty point, made the only way PostGIS allows.
        await pg.ExecuteAsync("""
            INSERT INTO public.oracle_shapes VALUES
              (1000, ST_MakePoint('NaN', 'NaN')), (1001, ST_MakePoint('NaN', 'NaN', 'NaN')), (1002, ST_MakePoint(1, 'NaN')),
              (1003, ST_MakePoint('Infinity', '-Infinity')), (1004, ST_Collect(ST_MakePoint('NaN', 'NaN'), ST_MakePoint(1, 1))),
              (1006, ST_ForceCollection(ST_MakePoint('NaN', 'NaN'))), (1007, ST_MakeLine(ST_MakePoint('NaN', 'NaN'), ST_MakePoint(1, 1))),
              (1008, ST_SetSRID(ST_MakePoint(-0.0::float8, 1), 25832))
            """);

        var mismatches = await CompareAsync("SELECT id, g FROM public.oracle_shapes", geography: false);
        Assert.Empty(mismatches);
    }

    /// <summary>
    /// An empty point beside a NaN one in one multi-point: EWKB and ST_NPoints cannot say which is which, so
    /// both come out as NaN. The server's text held a NaN too, so neither is JSON and the row fails as before.
    /// </summary>
    [Fact]
    public async Task EmptyAndNaNPointsMixed_RenderNaNLikeTheServersInvalidJson()
    {
        Assert.True(pg.PostgisAvailable, "the oracle needs PostGIS in the test cluster");
        await using var connection = await OpenAsync();
        var spatialRefSys = await SpatialRefSys.LoadAsync(connection, CancellationToken.None);
        await using var command = new NpgsqlCommand(
            "SELECT ST_AsGeoJSON(g, 15), ST_AsEWKB(g), ST_NPoints(g) FROM (SELECT ST_Collect(ARRAY['POINT EMPTY'::geometry, ST_MakePoint(1, 1), ST_MakePoint('NaN', 'NaN')]) AS g) AS t",
            connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var text = new PostgisText(spatialRefSys, geography: false);
        text.Render(reader.GetFieldValue<byte[]>(1), reader.GetInt32(2));

        Assert.Equal("{\"type\":\"MultiPoint\",\"coordinates\":[,[1,1],[NaN,NaN]]}", reader.GetString(0));
        Assert.Equal("{\"type\":\"MultiPoint\",\"coordinates\":[[NaN,NaN],[1,1],[NaN,NaN]]}", Encoding.UTF8.GetString(text.GeoJson));
        Assert.Equal("MULTIPOINT((NaN NaN),(1 1),(NaN NaN))", Encoding.UTF8.GetString(text.Wkt));
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => System.Text.Json.JsonDocument.Parse(text.GeoJson.ToArray()));
    }

    [Fact]
    public async Task RandomDoublesAcrossEveryMagnitude_RenderTheServersDigits()
    {
        Assert.True(pg.PostgisAvailable, "the oracle needs PostGIS in the test cluster");
        await pg.ExecuteAsync("DROP TABLE IF EXISTS public.oracle_numbers; CREATE TABLE public.oracle_numbers (id int, x float8, y float8, z float8, m float8)");
        var random = new Random(20261203);
        const int Rows = 80_000;
        await using (var connection = await OpenAsync())
        await using (var import = await connection.BeginBinaryImportAsync("COPY public.oracle_numbers FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < Rows; i++)
            {
                await import.StartRowAsync();
                await import.WriteAsync(i, NpgsqlDbType.Integer);
                for (var d = 0; d < 4; d++)
                {
                    await import.WriteAsync(Draw(random, i * 4 + d), NpgsqlDbType.Double);
                }
            }

            await import.CompleteAsync();
        }

        var mismatches = await CompareAsync(
            """
            SELECT id * 10 + k, g FROM public.oracle_numbers, LATERAL (VALUES
              (0, ST_SetSRID(ST_MakePoint(x, y), 25832)), (1, ST_MakePoint(x, y, z)), (2, ST_MakePointM(x, y, m)),
              (3, ST_MakePoint(x, y, z, m)), (4, ST_MakeLine(ST_MakePoint(x, y), ST_MakePoint(z, m))),
              (5, ST_Collect(ST_MakePoint(m, z), ST_MakePoint(y, x))),
              (6, ST_SetSRID(ST_MakePoint(y, x), 4326)), (7, ST_MakePoint(z, y))) AS v(k, g)
            """,
            geography: false);
        Assert.Empty(mismatches);
    }

    [Fact]
    public async Task GeographyColumn_HasNoCrsMemberAndTheServersBytes()
    {
        Assert.True(pg.PostgisAvailable, "the oracle needs PostGIS in the test cluster");
        await pg.ExecuteAsync("""
            DROP TABLE IF EXISTS public.oracle_geography; CREATE TABLE public.oracle_geography (id int, g geography);
            INSERT INTO public.oracle_geography VALUES (1, 'SRID=4258;POINT(1.5 2)'), (2, 'POINT(12.5683371 55.6760968)'),
              (3, 'LINESTRING(1 2,3 4.000000000000001)'), (4, 'POINT EMPTY')
            """);
        var mismatches = await CompareAsync("SELECT id, g::geometry FROM public.oracle_geography", geography: true);
        Assert.Empty(mismatches);
    }

    [Fact]
    public async Task TypesGeoJsonCannotHold_FailWithPostgisMessage()
    {
        Assert.True(pg.PostgisAvailable, "the oracle needs PostGIS in the test cluster");
        SpatialRefSys spatialRefSys;
        await using (var first = await OpenAsync())
        {
            spatialRefSys = await SpatialRefSys.LoadAsync(first, CancellationToken.None);
        }

        var wrong = new List<string>();
        foreach (var shape in Refused)
        {
            byte[] ewkb;
            int points;
            await using (var connection = await OpenAsync())
            await using (var fetch = new NpgsqlCommand("SELECT ST_AsEWKB($1::geometry), ST_NPoints($1::geometry)", connection))
            {
                fetch.Parameters.AddWithValue(shape);
                await using var reader = await fetch.ExecuteReaderAsync();
                await reader.ReadAsync();
                ewkb = reader.GetFieldValue<byte[]>(0);
                points = reader.GetInt32(1);
            }

            // Npgsql drops the connection after PostGIS's internal error (XX000): one connection each.
            string serverError;
            await using (var connection = await OpenAsync())
            await using (var render = new NpgsqlCommand("SELECT ST_AsGeoJSON($1::geometry, 15)", connection))
            {
                render.Parameters.AddWithValue(shape);
                try
                {
                    await render.ExecuteScalarAsync();
                    serverError = "(no error)";
                }
                catch (PostgresException e)
                {
                    serverError = e.MessageText;
                }
            }

            var text = new PostgisText(spatialRefSys, geography: false);
            var ours = Assert.Throws<InvalidCastException>(() => text.Render(ewkb, points));
            if (ours.Message != serverError)
            {
                wrong.Add($"{shape}: server '{serverError}', ours '{ours.Message}'");
            }
        }

        Assert.Empty(wrong);
    }

    /// <summary>A double from one of the classes that stress lwprint_double.</summary>
    private static double Draw(Random random, int i) => (i % 14) switch
    {
        // Short decimals at every magnitude (the formatter's fast path), 0 to 15 decimals.
        12 => Math.Round(random.NextDouble() * Math.Pow(10, random.Next(-7, 15)), random.Next(0, 16)),
        13 => (random.Next(1, 100_000) / Math.Pow(10, random.Next(0, 16))) * (random.Next(2) == 0 ? 1 : -1),
        // Any bit pattern (finite): every exponent, subnormals included.
        0 => Finite(BitConverter.Int64BitsToDouble(random.NextInt64())),
        // Projected coordinates with full precision (15–17 significant digits).
        1 => (random.NextDouble() - 0.5) * 2e7,
        2 => (random.NextDouble() - 0.5) * 360,
        // Around the fixed/exponential cut-offs 1e-8 and 1e15.
        3 => Math.BitIncrement(1e15 * (1 + ((random.NextDouble() - 0.5) * 1e-14))),
        4 => 1e-8 * (1 + ((random.NextDouble() - 0.5) * 1e-10)),
        5 => Math.Round((random.NextDouble() - 0.5) * 2e6, random.Next(0, 6)),
        6 => Math.Floor((random.NextDouble() - 0.5) * 1e16),
        7 => random.NextDouble() * Math.Pow(10, random.Next(-20, 20)),
        // Values whose shortest digits need rounding to 15 decimals (ties included).
        8 => random.Next(0, 10) + (random.Next(0, 1_000_000) * 1e-15) + 5e-16,
        9 => i % 24 == 9 ? -0.0 : random.Next(-1000, 1000),
        10 => Math.BitDecrement(Math.Pow(10, random.Next(-10, 22))),
        _ => Math.BitIncrement(Math.Pow(2, random.Next(-60, 60))) * (random.Next(2) == 0 ? 1 : -1),
    };

    private static double Finite(double d) => double.IsFinite(d) ? d : 1.5;

    private async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(pg.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>Renders each row's EWKB and compares with the server's GeoJSON, WKT and SRID; the differences found.</summary>
    private async Task<List<string>> CompareAsync(string rows, bool geography)
    {
        await using var connection = await OpenAsync();
        var spatialRefSys = await SpatialRefSys.LoadAsync(connection, CancellationToken.None);
        var text = new PostgisText(spatialRefSys, geography);
        var geoJson = geography ? "ST_AsGeoJSON(o.g::geography, 15)" : "ST_AsGeoJSON(o.g, 15)";
        var wkt = geography ? "ST_AsText(o.g::geography, 15)" : "ST_AsText(o.g, 15)";
        await using var command = new NpgsqlCommand(
            $"SELECT o.id, {geoJson}, {wkt}, ST_SRID(o.g), ST_AsEWKB(o.g), ST_NPoints(o.g) FROM ({rows}) AS o(id, g) ORDER BY 1",
            connection) { CommandTimeout = 600 };
        await using var reader = await command.ExecuteReaderAsync();
        var mismatches = new List<string>();
        var count = 0;
        while (await reader.ReadAsync())
        {
            count++;
            var id = reader.GetInt32(0);
            text.Render(reader.GetFieldValue<byte[]>(4), reader.GetInt32(5));
            var ourJson = Encoding.UTF8.GetString(text.GeoJson);
            var ourWkt = Encoding.UTF8.GetString(text.Wkt);
            if (ourJson != reader.GetString(1) || ourWkt != reader.GetString(2) || text.Srid != reader.GetInt32(3))
            {
                mismatches.Add($"{id}: server {reader.GetString(1)} | {reader.GetString(2)} | {reader.GetInt32(3)}; ours {ourJson} | {ourWkt} | {text.Srid}");
            }
        }

        Assert.True(count > 0, "the oracle compared no rows");
        return mismatches.Take(20).ToList();
    }
}
