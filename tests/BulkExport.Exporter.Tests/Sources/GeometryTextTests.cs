using System.Text;
using System.Text.Json;
using BulkExport.Api;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;
using BulkExport.Exporter.Tests.Formats;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Sources;

public sealed class GeometryTextTests
{
    [Theory]
    [InlineData("POINT(12.5 55.75)", "{\"type\":\"Point\",\"coordinates\":[12.5,55.75]}")]
    [InlineData("POINT Z (1 2 3)", "{\"type\":\"Point\",\"coordinates\":[1,2,3]}")]
    [InlineData("LINESTRING(0 0, 1 1)", "{\"type\":\"LineString\",\"coordinates\":[[0,0],[1,1]]}")]
    [InlineData("POLYGON((0 0,1 0,1 1,0 0))", "{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}")]
    [InlineData("MULTIPOINT((1 2),(3 4))", "{\"type\":\"MultiPoint\",\"coordinates\":[[1,2],[3,4]]}")]
    [InlineData("MULTIPOINT(1 2,3 4)", "{\"type\":\"MultiPoint\",\"coordinates\":[[1,2],[3,4]]}")]
    [InlineData("MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))", "{\"type\":\"MultiPolygon\",\"coordinates\":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,5]]]]}")]
    [InlineData("GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))", "{\"type\":\"GeometryCollection\",\"geometries\":[{\"type\":\"Point\",\"coordinates\":[1,2]},{\"type\":\"LineString\",\"coordinates\":[[0,0],[1,1]]}]}")]
    [InlineData("POINT EMPTY", "{\"type\":\"Point\",\"coordinates\":[]}")]
    public void FromText_Wkt_GivesEquivalentGeoJson(string wkt, string geoJson)
    {
        var value = GeometryText.FromText(wkt);
        Assert.Equal(geoJson, value.GeoJson);
        Assert.Equal(wkt, value.Wkt);
    }

    [Fact]
    public void FromText_Ewkt_KeepsSridAndPlainWkt()
    {
        var value = GeometryText.FromText("SRID=25832;POINT(725000.5 6175000.25)");
        Assert.Equal(25832, value.Srid);
        Assert.Equal("POINT(725000.5 6175000.25)", value.Wkt);
        Assert.Equal("{\"type\":\"Point\",\"coordinates\":[725000.5,6175000.25]}", value.GeoJson);
    }

    [Theory]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[12.50, 55.7]}", "POINT(12.50 55.7)")]
    [InlineData("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}", "POLYGON((0 0,1 0,1 1,0 0))")]
    [InlineData("{\"type\":\"MultiLineString\",\"coordinates\":[[[0,0],[1,1]],[[2,2],[3,3]]]}", "MULTILINESTRING((0 0,1 1),(2 2,3 3))")]
    [InlineData("{\"type\":\"GeometryCollection\",\"geometries\":[]}", "GEOMETRYCOLLECTION EMPTY")]
    // A third (fourth) ordinate is tagged Z (ZM), as ISO WKT and the structured formats' reader want it.
    [InlineData("{\"type\":\"Point\",\"coordinates\":[1,2,3]}", "POINT Z(1 2 3)")]
    [InlineData("{\"type\":\"Polygon\",\"coordinates\":[[[0,0,1],[1,0,2],[1,1,3],[0,0,1]]]}", "POLYGON Z((0 0 1,1 0 2,1 1 3,0 0 1))")]
    [InlineData("{\"type\":\"Point\",\"coordinates\":[1,2,3,4]}", "POINT ZM(1 2 3 4)")]
    public void FromJson_GeoJson_GivesWkt(string geoJson, string wkt)
    {
        var value = GeometryText.FromJson(Encoding.UTF8.GetBytes(geoJson));
        Assert.Equal(wkt, value.Wkt);
        using var doc = JsonDocument.Parse(value.GeoJson);
        Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
    }

    [Theory]
    [InlineData("POINT(1)")]
    [InlineData("CIRCLE(1 2)")]
    [InlineData("POINT(1 2")]
    [InlineData("POINT(1 2) trailing")]
    public void FromText_MalformedWkt_Throws(string wkt)
    {
        Assert.Throws<FormatException>(() => GeometryText.FromText(wkt));
    }

    [Fact]
    public async Task FilesSource_GeometryColumn_BecomesGeometryAndFeedsGeoJsonAndCsv()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(Path.Combine(dir.Path, "P.jsonl"), "{\"id\":1,\"geom\":{\"type\":\"Point\",\"coordinates\":[10,56]}}\n{\"id\":2,\"geom\":null}\n");
        File.WriteAllText(Path.Combine(dir.Path, "Q.csv"), "id,geom\n1,POINT(10 56)\n2,\n");
        var p = new EntitySpec { Name = "P", Key = ["id"], Geometry = new GeometrySpec { Column = "geom" } };
        var q = new EntitySpec { Name = "Q", Key = ["id"], Geometry = new GeometrySpec { Column = "geom" } };
        var source = new FilesSource(new FilesSourceSpec { Path = dir.Path }, [p, q], TimeProvider.System);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);

        foreach (var entity in new[] { p, q })
        {
            await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(false), CancellationToken.None);
            Assert.Equal(ColumnKind.Geometry, reader.Columns[1].Kind);
            var rows = new List<object?[]>();
            while (await reader.ReadAsync(CancellationToken.None))
            {
                rows.Add(reader.Current);
            }

            var geometry = Assert.IsType<GeometryValue>(rows[0][1]);
            Assert.Equal("POINT(10 56)", geometry.Wkt);
            Assert.Null(rows[1][1]);

            var geoJson = FormatTestData.EncodeText(RecordFormats.GeoJson, reader.Columns, [.. rows]);
            using var doc = JsonDocument.Parse(geoJson);
            Assert.Equal("[10,56]", doc.RootElement.GetProperty("features")[0].GetProperty("geometry").GetProperty("coordinates").GetRawText());
        }
    }

    [Fact]
    public async Task FilesSource_BadGeometry_FailsWithFileAndLine()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(Path.Combine(dir.Path, "Q.csv"), "id,geom\n1,POINT(10 56)\n2,POINT(oops)\n");
        var q = new EntitySpec { Name = "Q", Key = ["id"], Geometry = new GeometrySpec { Column = "geom" } };
        var source = new FilesSource(new FilesSourceSpec { Path = dir.Path }, [q], TimeProvider.System);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(q, new ReadRequest(false), CancellationToken.None);

        Assert.True(await reader.ReadAsync(CancellationToken.None));
        var error = await Assert.ThrowsAsync<SourceException>(async () => await reader.ReadAsync(CancellationToken.None));
        Assert.Contains("Q.csv:3", error.Message, StringComparison.Ordinal);
    }
}
