using BulkExport.Exporter.Formats.Geo;
using NetTopologySuite.Geometries;
using NetTopologySuite.IO;

namespace BulkExport.Exporter.Tests.Formats.Geo;

public sealed class WktToWkbTests
{
    [Theory]
    [InlineData("POINT (720001 6170002)")]
    [InlineData("point(12.5 -55.25)")]
    [InlineData("POINT (1e-7 2.5E+3)")]
    [InlineData("LINESTRING (0 0, 1 1, 2 0.5)")]
    [InlineData("POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0), (2 2, 3 2, 3 3, 2 2))")]
    [InlineData("MULTIPOINT ((1 2), (3 4))")]
    [InlineData("MULTIPOINT (1 2, 3 4)")]
    [InlineData("MULTILINESTRING ((0 0, 1 1), (2 2, 3 3, 4 2))")]
    [InlineData("MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5), (5.2 5.1, 5.8 5.1, 5.8 5.7, 5.2 5.1)))")]
    [InlineData("GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (0 0, 3 -1), POLYGON ((0 0, 1 0, 1 1, 0 0)))")]
    public void Converts_ToTheBytesNetTopologySuiteWrites_WithTypeAndEnvelope(string wkt)
    {
        var geometry = new WKTReader().Read(wkt);
        var expected = new WKBWriter(ByteOrder.LittleEndian, handleSRID: false, emitZ: false, emitM: false).Write(geometry);

        var converter = new WktToWkb();
        Assert.True(converter.TryConvert(wkt));
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(converter.Wkb));
        Assert.Equal(geometry.OgcGeometryType, converter.Type);
        var envelope = geometry.EnvelopeInternal;
        Assert.Equal((envelope.MinX, envelope.MaxX, envelope.MinY, envelope.MaxY), (converter.MinX, converter.MaxX, converter.MinY, converter.MaxY));
    }

    [Theory]
    [InlineData("POINT EMPTY")]
    [InlineData("POINT Z (1 2 3)")]
    [InlineData("POINT (1 2 3)")]
    [InlineData("LINESTRING (0 0)")]
    [InlineData("POLYGON ((0 0, 1 0, 1 1, 0 1))")]
    [InlineData("MULTIPOLYGON (EMPTY)")]
    [InlineData("POINT (NaN 2)")]
    [InlineData("POINT (1 2) trailing")]
    [InlineData("CIRCULARSTRING (0 0, 1 1, 2 0)")]
    public void LeavesWhatItDoesNotTake_ToNetTopologySuite(string wkt) => Assert.False(new WktToWkb().TryConvert(wkt));

    [Fact]
    public void ReusedConverter_KeepsNothingOfThePreviousGeometry()
    {
        var converter = new WktToWkb();
        Assert.True(converter.TryConvert("POLYGON ((0 0, 100 0, 100 100, 0 0))"));
        Assert.True(converter.TryConvert("POINT (5 6)"));
        Assert.Equal(21, converter.Wkb.Length);
        Assert.Equal((5.0, 5.0, 6.0, 6.0), (converter.MinX, converter.MaxX, converter.MinY, converter.MaxY));
        Assert.Equal(OgcGeometryType.Point, converter.Type);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0")]
    [InlineData("-0.0")]
    [InlineData("007")]
    [InlineData("440007")]
    [InlineData("6050003.5")]
    [InlineData("0.1")]
    [InlineData("-123456789.012345")]
    [InlineData("999999999999999")]
    [InlineData("0.00000000000001")]
    public void ShortDecimals_ParseToTheBitsDoubleParseGives(string text)
    {
        Assert.True(WktToWkb.TryParseShort(text, out var fast));
        Assert.Equal(BitConverter.DoubleToInt64Bits(double.Parse(text, System.Globalization.CultureInfo.InvariantCulture)), BitConverter.DoubleToInt64Bits(fast));
    }

    [Theory]
    [InlineData("1234567890123456")]
    [InlineData("1e5")]
    [InlineData(".5")]
    [InlineData("1.")]
    [InlineData("-")]
    [InlineData("1.2.3")]
    [InlineData("+1")]
    [InlineData("")]
    public void OtherSpellings_AreLeftToDoubleParse(string text) => Assert.False(WktToWkb.TryParseShort(text, out _));

    [Fact]
    public void RandomShortDecimals_ParseToTheBitsDoubleParseGives()
    {
        var random = new Random(20261204);
        for (var n = 0; n < 200_000; n++)
        {
            var digits = random.Next(1, 16);
            var text = new System.Text.StringBuilder(random.Next(2) == 0 ? "-" : "");
            var point = random.Next(-1, digits);
            for (var d = 0; d < digits; d++)
            {
                if (d == point && d > 0)
                {
                    text.Append('.');
                }

                text.Append((char)('0' + random.Next(10)));
            }

            var s = text.ToString();
            Assert.True(WktToWkb.TryParseShort(s, out var fast), s);
            Assert.True(BitConverter.DoubleToInt64Bits(double.Parse(s, System.Globalization.CultureInfo.InvariantCulture)) == BitConverter.DoubleToInt64Bits(fast), s);
        }
    }
}
