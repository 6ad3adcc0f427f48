using System.Text.Json.Nodes;
using BulkExport.Exporter.Sources;

namespace BulkExport.Exporter.Tests.Sources;

public sealed class GeometryTextTests
{
    [Theory]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[10.2,56.15]}", "POINT (10.2 56.15)")]
    [InlineData("{\"type\":\"LineString\",\"coordinates\":[[1,2],[3,4]]}", "LINESTRING (1 2, 3 4)")]
    [InlineData("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}", "POLYGON ((0 0, 1 0, 1 1, 0 0))")]
    [InlineData("{\"type\":\"MultiPoint\",\"coordinates\":[[1,2],[3,4]]}", "MULTIPOINT (1 2, 3 4)")]
    [InlineData("{\"type\":\"MultiPolygon\",\"coordinates\":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,5]]]]}", "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))")]
    [InlineData("{\"type\":\"GeometryCollection\",\"geometries\":[{\"type\":\"Point\",\"coordinates\":[1,2]},{\"type\":\"LineString\",\"coordinates\":[[1,2],[3,4]]}]}", "GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (1 2, 3 4))")]
    public void GeoJsonAndWkt_ConvertBothWays(string geoJson, string wkt)
    {
        Assert.Equal(wkt, GeometryText.FromGeoJson(geoJson).Wkt);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(geoJson), JsonNode.Parse(GeometryText.FromWkt(wkt).GeoJson)));
    }

    [Fact]
    public void EmptyAndThreeDimensionalWkt_AreUnderstood()
    {
        Assert.Equal("{\"type\":\"Point\",\"coordinates\":[]}", GeometryText.FromWkt("POINT EMPTY").GeoJson);
        Assert.Equal("{\"type\":\"Point\",\"coordinates\":[1,2,3]}", GeometryText.FromWkt("POINT Z (1 2 3)").GeoJson);
    }

    [Theory]
    [InlineData("CIRCLE (1 2)")]
    [InlineData("POINT (1 x)")]
    [InlineData("POINT (1 2")]
    public void BadWkt_IsAFormatError(string wkt) => Assert.Throws<FormatException>(() => GeometryText.FromWkt(wkt));
}
