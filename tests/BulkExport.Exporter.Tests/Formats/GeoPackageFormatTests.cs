using System.Security.Cryptography;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Support;
using Microsoft.Data.Sqlite;
using static BulkExport.Exporter.Tests.Formats.StructuredFormatTestData;

namespace BulkExport.Exporter.Tests.Formats;

public sealed class GeoPackageFormatTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private DataFileSet WriteGpkg(IReadOnlyList<Column> columns, IEnumerable<object?[]> rows, long? maxRecords = null, int? epsg = null) =>
        Write(new DataFileSetWriter(new GeoPackageFormat(Entity(epsg), Generated), columns, Options(_temp.Path, maxRecords)), columns, rows);

    [GdalFact]
    public void PointEntity_OgrinfoReportsCountPointTypeAndEpsg25832_AndOgr2ogrGivesTheSourceValues()
    {
        var set = WriteGpkg(Columns, TestRows(6));
        var file = Assert.Single(set.Files);
        Assert.Equal("DAR_V1_Adresse_TotalDownload_X_Current_3.gpkg", file.InnerFileName);
        var gpkg = Extract(file, _temp.Path);

        var info = ReaderTools.OgrInfoSummary(gpkg);
        ReaderTools.HasAll(info, "Layer name: Adresse", "Geometry: Point", "Feature Count: 6", "ID[\"EPSG\",25832]", "Extent: (720001.000000, 6170002.000000) - (720006.000000, 6170012.000000)");
        // Column types from the source's kinds.
        ReaderTools.HasAll(info, "id: Integer64", "name: String", "amount: Real", "big: String", "ratio: Real", "active: Integer(Boolean)", "day: Date", "changed: DateTime", "raw: Binary");

        var spatialIndex = ReaderTools.Ok("ogrinfo", "-ro", gpkg, "-sql", "SELECT HasSpatialIndex('Adresse', 'geom')");
        Assert.True(spatialIndex.Contains("HasSpatialIndex (Integer) = 1", StringComparison.Ordinal), spatialIndex);

        var rows = ParseOgrCsv(ReaderTools.Ogr2OgrCsv(gpkg, _temp.Path));
        Assert.Equal(6, rows.Count);
        Assert.Equal("POINT (720002 6170004)", rows[1]["WKT"]);
        Assert.Equal("2", rows[1]["id"]);
        Assert.Equal("Æblevej 2 <&> \"st.\"", rows[1]["name"]);
        Assert.Equal("2.25", rows[1]["amount"]);
        Assert.Equal("12345678901234567890.000000000000000001", rows[1]["big"]);
        Assert.Equal("1", rows[1]["ratio"]);
        Assert.Equal("1", rows[1]["active"]);
        Assert.Equal("2024/01/03", rows[1]["day"]);
        Assert.Equal("2024/03/01 12:02:00+00", rows[1]["changed"]);
        Assert.Equal(Uid(2).ToString("D"), rows[1]["uid"]);
        Assert.Equal("{\"n\":2}", rows[1]["doc"]);
        Assert.Equal("[\"a\",\"t2\"]", rows[1]["tags"]);
        // The all-NULL row stays NULL (empty in GDAL's CSV) and keeps its geometry.
        Assert.Null(rows[5]["name"]);
        Assert.Null(rows[5]["amount"]);
        Assert.Equal("POINT (720006 6170012)", rows[5]["WKT"]);
    }

    [GdalFact]
    public void ZPoints_AreWritten3D_OgrinfoReportsA3DPointLayer_AndOgr2ogrGivesTheZ()
    {
        var gpkg = Extract(Assert.Single(WriteGpkg(ZColumns, ZPointRows()).Files), _temp.Path);

        ReaderTools.HasAll(ReaderTools.OgrInfoSummary(gpkg), "Geometry: 3D Point", "Feature Count: 3");
        var rows = ParseOgrCsv(ReaderTools.Ogr2OgrCsv(gpkg, _temp.Path));
        Assert.Equal(["POINT Z (720001 6170002 12.5)", "POINT Z (720003 6170004 -3.25)", null], rows.Select(r => r["WKT"]));
        // Every geometry has a Z: the column says so (1 = mandatory), and the blob is ISO WKB Point Z (1001).
        using var connection = new SqliteConnection($"Data Source={gpkg};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT z || '|' || m || '|' || geometry_type_name FROM gpkg_geometry_columns";
        Assert.Equal("1|0|POINT", command.ExecuteScalar());
        command.CommandText = "SELECT geom FROM Adresse WHERE id = 1";
        var blob = (byte[])command.ExecuteScalar()!;
        // The header's envelope indicator: none (0) or [x, y, z] (2, 48 bytes), never a 2D box for a 3D geometry.
        var indicator = (blob[3] >> 1) & 7;
        Assert.Contains(indicator, new[] { 0, 2 });
        var wkb = blob.AsSpan(8 + (indicator == 2 ? 48 : 0));
        Assert.Equal(1001, System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(wkb[1..]));
        Assert.Equal(12.5, System.Buffers.Binary.BinaryPrimitives.ReadDoubleLittleEndian(wkb[21..]));
    }

    [Fact]
    public void AnMOrdinate_FailsTheFile_NamingEntityAndColumn()
    {
        var e = Assert.Throws<FormatException>(() => WriteGpkg(ZColumns, MPointRows()));
        Assert.Contains("entity Adresse, column geom", e.Message, StringComparison.Ordinal);
        Assert.Contains("M (measure) ordinate", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void File_HasGeoPackageHeaderAndRequiredTables_WithBoundsSrsAndGenerationTime()
    {
        var set = WriteGpkg(Columns, TestRows(3));
        var gpkg = Extract(Assert.Single(set.Files), _temp.Path);

        using var connection = new SqliteConnection($"Data Source={gpkg};Mode=ReadOnly;Pooling=False");
        connection.Open();
        object? Scalar(string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            return command.ExecuteScalar();
        }

        Assert.Equal((long)GeoPackageFile.ApplicationId, Scalar("PRAGMA application_id"));
        Assert.Equal((long)GeoPackageFile.UserVersion, Scalar("PRAGMA user_version"));
        Assert.Equal("delete", Scalar("PRAGMA journal_mode"));
        Assert.Equal("ok", Scalar("PRAGMA integrity_check"));
        Assert.Equal("features|2025-06-01T04:00:00.000Z|720001.0|6170002.0|720003.0|6170006.0|25832", Scalar("SELECT data_type || '|' || last_change || '|' || min_x || '|' || min_y || '|' || max_x || '|' || max_y || '|' || srs_id FROM gpkg_contents WHERE table_name = 'Adresse'"));
        Assert.Equal("geom|POINT|25832|0|0", Scalar("SELECT column_name || '|' || geometry_type_name || '|' || srs_id || '|' || z || '|' || m FROM gpkg_geometry_columns"));
        Assert.Equal("gpkg_rtree_index|write-only", Scalar("SELECT extension_name || '|' || scope FROM gpkg_extensions WHERE table_name = 'Adresse' AND column_name = 'geom'"));
        Assert.Equal(3L, Scalar("SELECT count(*) FROM rtree_Adresse_geom"));
        Assert.Equal(6L, Scalar("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rtree_Adresse_geom_%'"));
        Assert.StartsWith("PROJCS[\"ETRS89 / UTM zone 32N\"", (string)Scalar("SELECT definition FROM gpkg_spatial_ref_sys WHERE srs_id = 25832")!, StringComparison.Ordinal);
        Assert.Contains("\"geom\" POINT", (string)Scalar("SELECT sql FROM sqlite_master WHERE name = 'Adresse'")!, StringComparison.Ordinal);
    }

    [Fact]
    public void SameRows_GiveTheSameBytes_SoAnUnchangedTotalCanBeReissued()
    {
        var first = WriteGpkg(Columns, TestRows(50));
        var second = WriteGpkg(Columns, TestRows(50));

        // Same generation (same last_change): byte for byte the same file.
        Assert.Equal(first.ContentSha256, second.ContentSha256);
        Assert.Equal(first.Files[0].Sha256, second.Files[0].Sha256);
        Assert.Equal(File.ReadAllBytes(Extract(first.Files[0], _temp.Path)), File.ReadAllBytes(Extract(second.Files[0], _temp.Path)));
        var changed = TestRows(50);
        changed[10][1] = "changed";
        Assert.NotEqual(first.ContentSha256, WriteGpkg(Columns, changed).ContentSha256);
    }

    [GdalFact]
    public void EntityWithoutGeometry_IsAnAttributesTable_GdalOpensWithoutGeometry()
    {
        var columns = Columns[..^1];
        var set = WriteGpkg(columns, TestRows(4).Select(r => r[..^1]));
        var gpkg = Extract(Assert.Single(set.Files), _temp.Path);

        var info = ReaderTools.OgrInfoSummary(gpkg);
        ReaderTools.HasAll(info, "Geometry: None", "Feature Count: 4");
        Assert.Equal(4, ParseOgrCsv(ReaderTools.Ogr2OgrCsv(gpkg, _temp.Path)).Count);
    }

    [GdalFact]
    public void RecordLimit_SplitsIntoParts_EachAGeoPackageWithItsRows()
    {
        var set = WriteGpkg(Columns, TestRows(5), maxRecords: 2);

        Assert.Equal([2L, 2L, 1L], set.Files.Select(f => f.Records));
        Assert.Equal(["DAR_V1_Adresse_TotalDownload_X_Current_3_part1of3.zip", "DAR_V1_Adresse_TotalDownload_X_Current_3_part2of3.zip", "DAR_V1_Adresse_TotalDownload_X_Current_3_part3of3.zip"], set.Files.Select(f => f.FileName));
        foreach (var file in set.Files)
        {
            var info = ReaderTools.OgrInfoSummary(Extract(file, _temp.Path));
            Assert.Contains($"Feature Count: {file.Records}", info, StringComparison.Ordinal);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file.LocalPath))), file.Sha256);
        }
    }

    [GdalFact]
    public void ManyMixedGeometries_RtreeIsValid_AndGdalsSpatialFilterAndValuesMatchTheSource()
    {
        Column[] columns = [new("id", ColumnKind.Integer, Nullable: false), new("name", ColumnKind.Text), new("geom", ColumnKind.Geometry)];
        string Wkt(int i)
        {
            var (x, y) = (720000 + (i % 100 * 10), 6170000 + (i / 100 * 10));
            return (i % 5) switch
            {
                0 => $"POINT ({x} {y})",
                1 => $"LINESTRING ({x} {y}, {x + 3} {y + 4})",
                2 => $"POLYGON (({x} {y}, {x + 5} {y}, {x + 5} {y + 5}, {x} {y}))",
                3 => $"MULTIPOINT ({x} {y}, {x + 1} {y + 1})",
                // Z: not the fast path's; NetTopologySuite's, written 3D (the table then mixes 2D and 3D).
                _ => $"POINT Z ({x} {y} 7)",
            };
        }

        // 3000 rows: leaves, a level above them and a root; every 7th row without a geometry, one empty name.
        var rows = Enumerable.Range(1, 3000).Select(i => new object?[] { (long)i, i == 5 ? "" : $"n{i}", i % 7 == 0 ? null : new GeometryValue("{}", Wkt(i), 25832) }).ToList();
        var gpkg = Extract(Assert.Single(WriteGpkg(columns, rows).Files), _temp.Path);

        using (var connection = new SqliteConnection($"Data Source={gpkg};Mode=ReadOnly;Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT rtreecheck('rtree_Adresse_geom') || '|' || (SELECT count(*) FROM rtree_Adresse_geom) || '|' || (SELECT geometry_type_name FROM gpkg_geometry_columns)";
            Assert.Equal($"ok|{rows.Count(r => r[2] is not null)}|GEOMETRY", command.ExecuteScalar());
            command.CommandText = "SELECT quote(name) FROM Adresse WHERE id = 5";
            Assert.Equal("''", command.ExecuteScalar());
        }

        // A box over part of the grid: GDAL answers it through the R-tree.
        var (minX, minY, maxX, maxY) = (720200.0, 6170100.0, 720400.0, 6170150.0);
        var expected = rows.Count(r => r[2] is GeometryValue g && Intersects(new NetTopologySuite.IO.WKTReader().Read(g.Wkt).EnvelopeInternal, minX, minY, maxX, maxY));
        var filtered = ReaderTools.Ok("ogrinfo", "-ro", "-so", gpkg, "Adresse", "-spat", "720200", "6170100", "720400", "6170150");
        Assert.Contains($"Feature Count: {expected}", filtered, StringComparison.Ordinal);

        var read = ParseOgrCsv(ReaderTools.Ogr2OgrCsv(gpkg, _temp.Path));
        Assert.Equal(3000, read.Count);
        var wkt = new NetTopologySuite.IO.WKTReader();
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i][2] is not GeometryValue g)
            {
                Assert.Null(read[i]["WKT"]);
                continue;
            }

            // Compared as geometries: GDAL spells WKT its own way (no space after commas); EqualsExact
            // is 2D, so the Z (NaN for a 2D geometry) is compared apart.
            var source = wkt.Read(g.Wkt);
            var back = wkt.Read(read[i]["WKT"]);
            Assert.True(back.EqualsExact(source), $"row {i + 1}: {read[i]["WKT"]} is not {g.Wkt}");
            Assert.Equal(source.Coordinate.Z, back.Coordinate.Z);
        }
    }

    private static bool Intersects(NetTopologySuite.Geometries.Envelope e, double minX, double minY, double maxX, double maxY) =>
        e.MaxX >= minX && e.MinX <= maxX && e.MaxY >= minY && e.MinY <= maxY;

    [Fact]
    public void TwoGeometryColumns_AreRefusedNamingThem()
    {
        Column[] columns = [.. Columns, new Column("centroid", ColumnKind.Geometry)];
        var e = Assert.Throws<FormatException>(() => new DataFileSetWriter(new GeoPackageFormat(Entity(), Generated), columns, Options(_temp.Path)));
        Assert.Contains("geom, centroid", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ratio")]
    [InlineData("amount")]
    public void NaN_InARealColumn_FailsTheFileNamingEntityKeyAndColumn(string column)
    {
        // SQLite would keep it as NULL: a published value other than the source's.
        var rows = TestRows(3);
        var at = Array.FindIndex(Columns, c => c.Name == column);
        rows[1][at] = column == "ratio" ? double.NaN : new DecimalText("NaN");
        var e = Assert.Throws<FormatException>(() => WriteGpkg(Columns, rows));
        Assert.Contains($"entity Adresse, key (id=2), column {column}: NaN cannot be stored in a GeoPackage", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GeometryWithAnotherSrid_FailsTheFile()
    {
        var rows = TestRows(3);
        rows[1][^1] = new GeometryValue("{}", "POINT (12 55)", 4326);
        var e = Assert.Throws<FormatException>(() => WriteGpkg(Columns, rows));
        Assert.Contains("SRID 4326", e.Message, StringComparison.Ordinal);
        Assert.Contains("EPSG:25832", e.Message, StringComparison.Ordinal);
    }
}
