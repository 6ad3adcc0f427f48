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
}
