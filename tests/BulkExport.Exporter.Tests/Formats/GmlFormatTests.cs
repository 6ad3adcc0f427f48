using System.Text;
using System.Xml.Linq;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Support;
using static BulkExport.Exporter.Tests.Formats.StructuredFormatTestData;

namespace BulkExport.Exporter.Tests.Formats;

public sealed class GmlFormatTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private DataFileSet WriteGml(IReadOnlyList<Column> columns, IEnumerable<object?[]> rows, long? maxRecords = null, int? epsg = null) =>
        Write(new DataFileSetWriter(new GmlFormat(Entity(epsg)), columns, Options(_temp.Path, maxRecords)), columns, rows);

    [Fact]
    public void Schema_WithoutConfiguredEpsg_TakesTheFirstGeometrysCrs_AndAPartWithAnotherSridFails()
    {
        // Two parts: the second's rows carry another SRID. The schema serves both parts, so it must
        // not follow the last geometry seen; the second part is refused instead.
        var rows = TestRows(4);
        for (var i = 2; i < 4; i++)
        {
            var g = (GeometryValue)rows[i][^1]!;
            rows[i][^1] = g with { Srid = 4326 };
        }

        var e = Assert.Throws<FormatException>(() => WriteGml(Columns, rows, maxRecords: 2));
        Assert.Contains("SRID 4326", e.Message, StringComparison.Ordinal);
        Assert.Contains("EPSG:25832", e.Message, StringComparison.Ordinal);

        // The same rows all in 25832: every part's geometries and the schema say 25832.
        var set = WriteGml(Columns, TestRows(4), maxRecords: 2);
        Assert.Equal(2, set.Files.Count);
        foreach (var file in set.Files)
        {
            var entries = FormatTestData.ReadZip(file.LocalPath);
            Assert.Contains("srsName=\"urn:ogc:def:crs:EPSG::25832\"", Encoding.UTF8.GetString(entries[file.InnerFileName]), StringComparison.Ordinal);
            Assert.Contains("srsName=\"urn:ogc:def:crs:EPSG::25832\"", Encoding.UTF8.GetString(entries[Path.ChangeExtension(file.InnerFileName, "xsd")]), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Schema_TakesTheConfiguredEpsg_WhenTheRowsCarryNoSrid()
    {
        var rows = TestRows(3);
        foreach (var row in rows)
        {
            row[^1] = ((GeometryValue)row[^1]!) with { Srid = null };
        }

        var file = Assert.Single(WriteGml(Columns, rows, epsg: 3857).Files);
        var entries = FormatTestData.ReadZip(file.LocalPath);
        var xsd = Encoding.UTF8.GetString(entries[Path.ChangeExtension(file.InnerFileName, "xsd")]);
        Assert.Contains("srsName=\"urn:ogc:def:crs:EPSG::3857\"", xsd, StringComparison.Ordinal);
        Assert.DoesNotContain("EPSG::4326", xsd, StringComparison.Ordinal);
        Assert.Contains("srsName=\"urn:ogc:def:crs:EPSG::3857\"", Encoding.UTF8.GetString(entries[file.InnerFileName]), StringComparison.Ordinal);
    }

    [GdalFact]
    public void ZPoints_AreWrittenWithSrsDimension3_AndOgrinfoReadsA3DPointWithTheZ()
    {
        var file = Assert.Single(WriteGml(ZColumns, ZPointRows()).Files);
        var text = Encoding.UTF8.GetString(FormatTestData.ReadZip(file.LocalPath)[file.InnerFileName]);
        Assert.Contains("<gml:pos srsDimension=\"3\">720001 6170002 12.5</gml:pos>", text, StringComparison.Ordinal);
        var gml = Extract(file, _temp.Path);

        ReaderTools.HasAll(ReaderTools.OgrInfoSummary(gml), "Feature Count: 3");
        var features = ReaderTools.Ok("ogrinfo", "-ro", "-al", gml);
        ReaderTools.HasAll(features, "POINT Z (720001 6170002 12.5)", "POINT Z (720003 6170004 -3.25)");
        var rows = ParseOgrCsv(ReaderTools.Ogr2OgrCsv(gml, _temp.Path));
        Assert.Equal(["POINT Z (720001 6170002 12.5)", "POINT Z (720003 6170004 -3.25)", null], rows.Select(r => r["WKT"]));
    }

    [Fact]
    public void AnMOrdinate_WhichGmlHasNot_FailsTheFile_NamingEntityAndColumn()
    {
        var e = Assert.Throws<FormatException>(() => WriteGml(ZColumns, MPointRows()));
        Assert.Contains("entity Adresse, column geom", e.Message, StringComparison.Ordinal);
        Assert.Contains("M (measure) ordinate", e.Message, StringComparison.Ordinal);
    }

    [GdalFact]
    public void PointEntity_OgrinfoReadsTheSchemaBeside_CountPointTypeEpsg25832_AndOgr2ogrGivesTheSourceValues()
    {
        var set = WriteGml(Columns, TestRows(6));
        var file = Assert.Single(set.Files);
        var entries = FormatTestData.ReadZip(file.LocalPath);
        Assert.Equal(["DAR_V1_Adresse_TotalDownload_X_Current_3.gml", "DAR_V1_Adresse_TotalDownload_X_Current_3.sql", "DAR_V1_Adresse_TotalDownload_X_Current_3.xsd"], entries.Keys.Order(StringComparer.Ordinal));
        var gml = Extract(file, _temp.Path);

        var info = ReaderTools.OgrInfoSummary(gml);
        ReaderTools.HasAll(info, "Layer name: Adresse", "Geometry: Point", "Feature Count: 6", "ID[\"EPSG\",25832]");
        // Types come from the XSD, not from guessing at the text.
        ReaderTools.HasAll(info, "id: Integer64", "name: String", "ratio: Real", "day: Date", "changed: DateTime");

        var rows = ParseOgrCsv(ReaderTools.Ogr2OgrCsv(gml, _temp.Path));
        Assert.Equal(6, rows.Count);
        Assert.Equal("POINT (720002 6170004)", rows[1]["WKT"]);
        Assert.Equal("2", rows[1]["id"]);
        Assert.Equal("Æblevej 2 <&> \"st.\"", rows[1]["name"]);
        Assert.Equal("2.25", rows[1]["amount"]);
        // Beyond a double's digits a decimal is declared xs:string, so GDAL keeps every digit.
        Assert.Equal("12345678901234567890.000000000000000001", rows[1]["big"]);
        Assert.Equal("{\"n\":2}", rows[1]["doc"]);
        Assert.Equal("2024/01/03", rows[1]["day"]);
        Assert.Null(rows[5]["name"]);
        Assert.Equal("POINT (720006 6170012)", rows[5]["WKT"]);

        // And GDAL converts it to a GeoPackage without complaint.
        ReaderTools.Ok("ogr2ogr", "-f", "GPKG", Path.Combine(_temp.Path, "from-gml.gpkg"), gml);
    }

    [GdalFact]
    public void GeographicCrs_WritesLatitudeFirstAsTheUrnPromises_AndGdalReadsLongitudeLatitudeBack()
    {
        Column[] columns = [new("id", ColumnKind.Integer), new("geom", ColumnKind.Geometry)];
        var set = WriteGml(columns, [[1L, new GeometryValue("{}", "POINT (12.5 55.7)", 4326)]]);
        var gml = Extract(Assert.Single(set.Files), _temp.Path);

        Assert.Contains("srsName=\"urn:ogc:def:crs:EPSG::4326\"><gml:pos>55.7 12.5</gml:pos>", File.ReadAllText(gml), StringComparison.Ordinal);
        var rows = ParseOgrCsv(ReaderTools.Ogr2OgrCsv(gml, _temp.Path));
        Assert.Equal("POINT (12.5 55.7)", Assert.Single(rows)["WKT"]);
    }

    [Fact]
    public void Document_IsWellFormedGml32_WithPolygonsAndMultiGeometries_AndTheSchemaIsWellFormed()
    {
        Column[] columns = [new("id", ColumnKind.Integer), new("geom", ColumnKind.Geometry)];
        object?[][] rows =
        [
            [1L, new GeometryValue("{}", "POLYGON ((0 0, 10 0, 10 10, 0 0), (1 1, 2 1, 2 2, 1 1))", 25832)],
            [2L, new GeometryValue("{}", "MULTILINESTRING ((0 0, 1 1), (2 2, 3 3))", 25832)],
            [3L, new GeometryValue("{}", "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)))", 25832)],
        ];
        var file = Assert.Single(WriteGml(columns, rows).Files);
        var entries = FormatTestData.ReadZip(file.LocalPath);

        var doc = XDocument.Parse(Encoding.UTF8.GetString(entries[file.InnerFileName]));
        XNamespace gml = GmlFormat.GmlNamespace;
        Assert.Equal(3, doc.Root!.Elements().Count());
        Assert.Single(doc.Descendants(gml + "interior"));
        Assert.Equal(2, doc.Descendants(gml + "curveMember").Count());
        Assert.Single(doc.Descendants(gml + "surfaceMember"));
        // Every gml:id in the document is unique, as XML ids must be.
        var ids = doc.Descendants().Select(e => (string?)e.Attribute(gml + "id")).OfType<string>().ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());

        var schema = XDocument.Parse(Encoding.UTF8.GetString(entries["DAR_V1_Adresse_TotalDownload_X_Current_3.xsd"]));
        // Mixed geometry types: the property is a plain geometry property.
        Assert.Contains(schema.Descendants(), e => (string?)e.Attribute("name") == "geom" && (string?)e.Attribute("type") == "gml:GeometryPropertyType");
    }

    [Fact]
    public void ControlCharacterInText_FailsNamingTheColumn()
    {
        Column[] columns = [new("id", ColumnKind.Integer), new("name", ColumnKind.Text), new("geom", ColumnKind.Geometry)];
        var e = Assert.Throws<FormatException>(() => WriteGml(columns, [[1L, "bell\u0007", new GeometryValue("{}", "POINT (1 2)", 25832)]]));
        Assert.Contains("column name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RecordLimit_SplitsIntoPartsThatAreEachAWholeDocumentWithItsSchema()
    {
        var set = WriteGml(Columns, TestRows(5), maxRecords: 2);

        Assert.Equal([2L, 2L, 1L], set.Files.Select(f => f.Records));
        foreach (var file in set.Files)
        {
            var entries = FormatTestData.ReadZip(file.LocalPath);
            var doc = XDocument.Parse(Encoding.UTF8.GetString(entries[file.InnerFileName]));
            Assert.Equal(file.Records, doc.Root!.Elements().Count());
            Assert.Contains(entries.Keys, k => k.EndsWith(".xsd", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void SameRows_GiveTheSameBytes()
    {
        var first = WriteGml(Columns, TestRows(20));
        Assert.Equal(first.ContentSha256, WriteGml(Columns, TestRows(20)).ContentSha256);
        var changed = TestRows(20);
        changed[3][1] = "other";
        Assert.NotEqual(first.ContentSha256, WriteGml(Columns, changed).ContentSha256);
    }
}
