using System.Buffers.Binary;
using System.Text;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources.Postgres;

namespace BulkExport.Exporter.Tests.Sources.Postgres;

/// <summary>
/// The point writer hands the batch the GeoJSON shape memo the readers (row digest, GeoJSON and JSON
/// encoders) would otherwise compute by scanning: it must be exactly what that scan gives, for every
/// double (finite, ±0, subnormal, the exponential cut-offs, ±Infinity) and every crs kind.
/// </summary>
public sealed class PostgisTextShapeMemoTests
{
    private static readonly SpatialRefSys Names = new(new Dictionary<int, string?>
    {
        [25832] = "EPSG:25832",
        [102100] = "ESRI:102100",
        [900913] = "we\"ird name",
    });

    private static byte[] Point(int srid, double x, double y)
    {
        var ewkb = new byte[srid == 0 ? 21 : 25];
        ewkb[0] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(ewkb.AsSpan(1), srid == 0 ? 1u : 0x20000001u);
        var at = 5;
        if (srid != 0)
        {
            BinaryPrimitives.WriteInt32LittleEndian(ewkb.AsSpan(5), srid);
            at = 9;
        }

        BinaryPrimitives.WriteDoubleLittleEndian(ewkb.AsSpan(at), x);
        BinaryPrimitives.WriteDoubleLittleEndian(ewkb.AsSpan(at + 8), y);
        return ewkb;
    }

    private static IEnumerable<double> Doubles()
    {
        double[] edges =
        [
            0, -0.0, 1, -1, 0.1, 1e-8, 1.0000001e-8, 9.999999e-9, 1e15, 999999999999999.9, 1e15 + 2, 4.9e-324, -4.9e-324,
            double.MaxValue, double.MinValue, double.Epsilon, double.PositiveInfinity, double.NegativeInfinity,
            12.5683371, 55.6760968, 123456789.123456789, -0.000123, 1e300, 1e-300, 2.5e-9,
        ];
        foreach (var d in edges)
        {
            yield return d;
        }

        var random = new Random(10);
        for (var i = 0; i < 3000; i++)
        {
            // Every bit pattern but NaN (the fast path leaves NaN points to the general walk).
            var d = BitConverter.Int64BitsToDouble(random.NextInt64());
            if (!double.IsNaN(d))
            {
                yield return d;
            }

            yield return Math.Round((random.NextDouble() - 0.5) * 360, random.Next(0, 16));
        }
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(4326, false)]
    [InlineData(25832, false)]
    [InlineData(102100, false)]
    [InlineData(900913, false)]
    [InlineData(25832, true)]
    public void PointMemo_IsWhatTheScanGives_ForEveryDoubleAndCrs(int srid, bool geography)
    {
        var text = new PostgisText(Names, geography);
        var batch = new RowBatch([new Column("g", ColumnKind.Geometry)], 1);
        var known = 0;
        var finite = 0;
        var doubles = Doubles().ToArray();
        for (var i = 0; i < doubles.Length; i++)
        {
            var x = doubles[i];
            var y = doubles[(i * 7 + 3) % doubles.Length];
            finite += double.IsFinite(x) && double.IsFinite(y) ? 1 : 0;
            Assert.True(text.TryRender(Point(srid, x, y), null));
            var geoJson = text.GeoJson.ToArray();
            var scanned = GeoJsonShape.TryParse(geoJson, out var type, out var crs, out var coordinates);
            if (text.GeoJsonShapeMemo == GeoJsonShape.UnknownMemo)
            {
                // Left to the scan: only where the scan refuses (Infinity) or the crs name is one it does not take.
                Assert.True(!scanned || srid == 900913, Encoding.UTF8.GetString(geoJson));
                continue;
            }

            known++;
            batch.Clear();
            batch.SetGeometry(batch.AddRow(), 0, geoJson, text.Wkt, text.Srid, text.GeoJsonShapeMemo);
            Assert.True(scanned, Encoding.UTF8.GetString(geoJson));
            Assert.True(GeoJsonShape.TryParse(batch.View(0), 0, out var memoType, out var memoCrs, out var memoCoordinates));
            Assert.Equal(Encoding.UTF8.GetString(type), Encoding.UTF8.GetString(memoType));
            Assert.Equal(Encoding.UTF8.GetString(crs), Encoding.UTF8.GetString(memoCrs));
            Assert.Equal(Encoding.UTF8.GetString(coordinates), Encoding.UTF8.GetString(memoCoordinates));
        }

        // The odd name never gets a memo (the scan does not take it either); otherwise every finite point has one.
        Assert.Equal(srid == 900913 && !geography ? 0 : finite, known);
    }
}
