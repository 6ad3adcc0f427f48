using System.Buffers;
using System.Text;
using System.Text.Json;
using BulkExport.Exporter.Rows;
using BulkExport.Publishing.Layout;

namespace BulkExport.Exporter.Tests.Formats.Geo;

/// <summary>
/// The shortcut for PostGIS's usual GeoJSON is only taken where it is provably what the general path
/// does: every value it recognises is valid JSON to System.Text.Json and canonicalises to the same bytes.
/// </summary>
public sealed class GeoJsonShapeTests
{
    private static bool Valid(string json)
    {
        try
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
            while (reader.Read())
            {
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static void AssertSameAsGeneralPath(string geoJson)
    {
        var bytes = Encoding.UTF8.GetBytes(geoJson);
        if (!GeoJsonShape.TryParse(bytes, out var type, out var crs, out var coordinates))
        {
            return;
        }

        Assert.True(Valid(geoJson), $"recognised but not valid JSON: {geoJson}");
        var general = new ArrayBufferWriter<byte>();
        CanonicalJson.Write(bytes, general);
        var fast = new ArrayBufferWriter<byte>();
        GeoJsonShape.WriteCanonical(type, crs, coordinates, fast);
        Assert.Equal(Encoding.UTF8.GetString(general.WrittenSpan), Encoding.UTF8.GetString(fast.WrittenSpan));
    }

    [Theory]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[8.001,54]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[1,2,3]}")]
    [InlineData("{\"type\":\"LineString\",\"coordinates\":[[-1.7976931348623157e+308,1E-300],[0,-0]]}")]
    [InlineData("{\"type\":\"MultiPolygon\",\"coordinates\":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,5]]]]}")]
    [InlineData("{\"type\":\"Point\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:25832\"}},\"coordinates\":[1,2]}")]
    [InlineData("{\"type\":\"Point\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"ESRI:102100\"}},\"coordinates\":[]}")]
    [InlineData("{\"type\":\"Polygon\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"a.b_c-D:1\"}},\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}")]
    public void PostGisShapes_AreRecognised_AndCanonicaliseAsTheGeneralPath(string geoJson)
    {
        Assert.True(GeoJsonShape.TryParse(Encoding.UTF8.GetBytes(geoJson), out _, out _, out _));
        AssertSameAsGeneralPath(geoJson);
    }

    [Fact]
    public void CrsMember_IsNotTakenByTheOverloadWithoutIt()
    {
        var geoJson = Encoding.UTF8.GetBytes("{\"type\":\"Point\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:25832\"}},\"coordinates\":[1,2]}");
        Assert.False(GeoJsonShape.TryParse(geoJson, out _, out _));
        Assert.True(GeoJsonShape.TryParse(geoJson, out _, out var crs, out _));
        Assert.Equal("EPSG:25832", Encoding.UTF8.GetString(crs));
    }

    [Theory]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[1,]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[01,2]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[1.,2]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[.5,2]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[-,2]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[1e,2]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[1e+,2]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[nan,2]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[1, 2]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[1,2]")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[1,2],\"bbox\":[1,2,1,2]}")]
    [InlineData("{\"type\":\"Point\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG 25832\"}},\"coordinates\":[1,2]}")]
    [InlineData("{\"type\":\"Point\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG\\u003a1\"}},\"coordinates\":[1,2]}")]
    [InlineData("{\"type\":\"Point\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"\"}},\"coordinates\":[1,2]}")]
    [InlineData("{\"type\":\"Point\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:1\"}},\"coordinates\":[1,]}")]
    [InlineData("{\"type\":\"Point\",\"crs\":{\"type\":\"link\",\"properties\":{\"href\":\"x\"}},\"coordinates\":[1,2]}")]
    [InlineData("{\"type\":\"GeometryCollection\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:1\"}},\"geometries\":[]}")]
    [InlineData("{\"type\":\"GeometryCollection\",\"geometries\":[]}")]
    [InlineData("{\"type\":\"Po\\u0069nt\",\"coordinates\":[1,2]}")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[[[[[[[[[1]]]]]]]]]}")]
    public void AnythingElse_IsLeftToTheGeneralPath(string geoJson) =>
        Assert.False(GeoJsonShape.TryParse(Encoding.UTF8.GetBytes(geoJson), out _, out _, out _));

    [Fact]
    public void RandomCoordinateText_IsRecognisedOnlyWhenValid_AndExactlyWhenANumberArray()
    {
        const string alphabet = "[],0123456789.-+eE ";
        var random = new Random(20261202);
        var recognised = 0;
        for (var n = 0; n < 50_000; n++)
        {
            var text = new StringBuilder("[");
            var length = random.Next(0, 14);
            for (var i = 0; i < length; i++)
            {
                text.Append(alphabet[random.Next(alphabet.Length)]);
            }

            var array = text.ToString();
            var geoJson = "{\"type\":\"Point\",\"coordinates\":" + array + "}";
            var ok = GeoJsonShape.IsNumberArray(Encoding.UTF8.GetBytes(array));
            // Complete for whitespace-free arrays: whatever System.Text.Json reads as such is recognised.
            if (!array.Contains(' ', StringComparison.Ordinal) && Valid(array) && array.StartsWith('['))
            {
                Assert.True(ok, $"a valid number array was not recognised: {array}");
            }

            var withCrs = "{\"type\":\"Point\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:25832\"}},\"coordinates\":" + array + "}";
            Assert.Equal(ok, GeoJsonShape.TryParse(Encoding.UTF8.GetBytes(withCrs), out _, out _, out _));
            if (ok)
            {
                recognised++;
                AssertSameAsGeneralPath(geoJson);
                AssertSameAsGeneralPath(withCrs);
            }
        }

        Assert.True(recognised > 100, $"only {recognised} random arrays were valid: the generator tests nothing");
    }
    [Fact]
    public void BatchMemo_GivesTheSpanParse_ForEveryValueSetAgainInAReusedBatch()
    {
        // One slot reused for values of each kind, twice each: the memo of one value never answers for the next.
        string[] values =
        [
            "{\"type\":\"Point\",\"coordinates\":[8.001,54]}",
            "{\"type\":\"Point\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:25832\"}},\"coordinates\":[1,2]}",
            "{\"type\": \"Point\", \"coordinates\": [1, 2]}",
            "{\"type\":\"Point\",\"coordinates\":[NaN,NaN]}",
            "{\"type\":\"MultiLineString\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"ESRI:102100\"}},\"coordinates\":[[[0,0],[1,1]]]}",
            "{\"type\":\"Point\",\"coordinates\":[]}",
        ];
        var batch = new RowBatch([new Column("g", ColumnKind.Geometry)], 1);
        foreach (var value in values.Concat(values.Reverse()))
        {
            batch.Clear();
            batch.SetGeometry(batch.AddRow(), 0, Encoding.UTF8.GetBytes(value), "POINT(1 2)"u8, null);
            var expected = GeoJsonShape.TryParse(Encoding.UTF8.GetBytes(value), out var type, out var crs, out var coordinates);
            for (var call = 0; call < 2; call++)
            {
                // The first call fills the memo, the second answers from it.
                Assert.Equal(expected, GeoJsonShape.TryParse(batch.View(0), 0, out var memoType, out var memoCrs, out var memoCoordinates));
                Assert.Equal(Encoding.UTF8.GetString(type), Encoding.UTF8.GetString(memoType));
                Assert.Equal(Encoding.UTF8.GetString(crs), Encoding.UTF8.GetString(memoCrs));
                Assert.Equal(Encoding.UTF8.GetString(coordinates), Encoding.UTF8.GetString(memoCoordinates));
            }
        }
    }
}
