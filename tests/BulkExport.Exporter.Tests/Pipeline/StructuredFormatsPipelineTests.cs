using System.IO.Compression;
using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Publishing.Layout;

namespace BulkExport.Exporter.Tests.Pipeline;

/// <summary>GPKG, GML and PARQUET through the whole run: names, catalog rows, deltas, re-issue and verify.</summary>
public sealed class StructuredFormatsPipelineTests
{
    private static readonly Column[] AdresseColumns = [new("id", ColumnKind.Integer, Nullable: false), new("navn", ColumnKind.Text), new("geom", ColumnKind.Geometry)];
    private static readonly Column[] PostnummerColumns = [new("nr", ColumnKind.Integer, Nullable: false), new("navn", ColumnKind.Text)];

    private static GeometryValue Point(int x, int y) => new($"{{\"type\":\"Point\",\"coordinates\":[{x},{y}]}}", $"POINT ({x} {y})", 25832);

    private static ExportHarness Harness() => new(s =>
    {
        s.Entities =
        [
            new EntitySpec { Name = "Adresse", Key = ["id"], Geometry = new GeometrySpec { Column = "geom", Epsg = 25832 } },
            new EntitySpec { Name = "Postnummer", Key = ["nr"] },
        ];
        s.Output.Formats = [OutputFormats.JsonLines, OutputFormats.GeoPackage, OutputFormats.Gml, OutputFormats.Parquet];
    });

    private static void Seed(ExportHarness h)
    {
        h.Source.Set("Adresse", AdresseColumns, [[1L, "Algade 1", Point(720001, 6170001)], [2L, "Algade 2", Point(720002, 6170002)], [3L, "Algade 3", Point(720003, 6170003)]]);
        h.Source.Set("Postnummer", PostnummerColumns, [[8000L, "Aarhus C"], [9000L, "Aalborg"]]);
    }

    private static async Task<string> ExtractAsync(ExportHarness h, CatalogRow row)
    {
        var dir = Path.Combine(h.Root, "extract-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var zip = Path.Combine(dir, row.Filename);
        await File.WriteAllBytesAsync(zip, (await h.Store.GetBytesAsync(row.Key, CancellationToken.None))!);
        ZipFile.ExtractToDirectory(zip, dir);
        return Path.Combine(dir, row.ContainedFileName);
    }

    [Fact]
    public async Task Total_PublishesEveryFormatTheEntityAllows_WithCatalogRowsAndOneFingerprintAcrossFormats()
    {
        using var h = Harness();
        Seed(h);
        await h.RunAsync(RunKind.Total);
        var catalog = await h.CatalogAsync();

        var totals = catalog.Files.Where(f => f.TypeOfDownload == FileNaming.TotalDownload).ToList();
        Assert.Equal(["GML", "GPKG", "JSONL", "PARQUET"], totals.Where(f => f.EntityName == "Adresse").Select(f => f.ContainedFileFormat).Order(StringComparer.Ordinal));
        // No geometry, no GML; GPKG becomes an attributes table.
        Assert.Equal(["GPKG", "JSONL", "PARQUET"], totals.Where(f => f.EntityName == "Postnummer").Select(f => f.ContainedFileFormat).Order(StringComparer.Ordinal));
        foreach (var row in totals)
        {
            Assert.Equal("ZIP", row.OutputFileFormat);
            Assert.Equal($"DAR_V1_{row.EntityName}_TotalDownload_{row.ContainedFileFormat}_Current_1.zip", row.Filename);
            Assert.Equal($"DAR_V1_{row.EntityName}_TotalDownload_{row.ContainedFileFormat}_Current_1.{row.ContainedFileFormat.ToLowerInvariant()}", row.ContainedFileName);
            Assert.NotNull(row.Fingerprint);
        }

        Assert.Single(totals.Where(f => f.EntityName == "Adresse").Select(f => f.Fingerprint).Distinct());
        var report = await h.VerifyAsync();
        Assert.True(report.Ok, string.Join("\n", report.Problems));
    }

    [Fact]
    public async Task UnchangedTotal_IsReissuedInEveryStructuredFormat_ChangedOneIsWrittenAnew()
    {
        using var h = Harness();
        Seed(h);
        await h.RunAsync(RunKind.Total);
        h.Source.Rows("Adresse")[0][1] = "Algade 1A";
        await h.RunAsync(RunKind.Total);
        var catalog = await h.CatalogAsync();

        var second = catalog.Files.Where(f => f.TypeOfDownload == FileNaming.TotalDownload && f.GenerationNumber == 2).ToList();
        Assert.All(second.Where(f => f.EntityName == "Postnummer"), f => Assert.Equal(1, f.ContainedGenerationNumber));
        Assert.All(second.Where(f => f.EntityName == "Adresse"), f => Assert.Equal(2, f.ContainedGenerationNumber));
        Assert.Contains(second, f => f.EntityName == "Postnummer" && f.ContainedFileFormat == "GPKG");
        Assert.Contains(second, f => f.EntityName == "Postnummer" && f.ContainedFileFormat == "PARQUET");
        Assert.True((await h.VerifyAsync()).Ok);
    }

    [DuckDbFact]
    public async Task Delta_CarriesTheOperationColumn_InParquetAsReadByDuckDb()
    {
        using var h = Harness();
        Seed(h);
        await h.RunAsync(RunKind.Total);
        var rows = h.Source.Rows("Adresse");
        rows[0][1] = "Algade 1A";
        rows.RemoveAt(1);
        rows.Add([4L, "Algade 4", Point(720004, 6170004)]);
        await h.RunAsync(RunKind.Delta);
        var catalog = await h.CatalogAsync();

        var delta = catalog.Files.Single(f => f.EntityName == "Adresse" && f.TypeOfDownload == FileNaming.DeltaDownload && f.GenerationNumber == 2 && f.ContainedFileFormat == "PARQUET");
        Assert.Equal(3, delta.RecordCount);
        using var read = ReaderTools.DuckDbRead(await ExtractAsync(h, delta));
        var columns = read.RootElement.GetProperty("columns").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
        Assert.Equal(["id", "navn", "geom", EntityExport.OperationColumn], columns);
        var operations = read.RootElement.GetProperty("rows").EnumerateArray().Select(r => (r[0].GetString(), r[3].GetString())).Order().ToList();
        Assert.Equal([("1", "update"), ("2", "delete"), ("4", "insert")], operations);
        Assert.True((await h.VerifyAsync()).Ok);
    }

    [GdalFact]
    public async Task Delta_GeoPackageAndGml_OpenInGdalWithTheOperationField()
    {
        using var h = Harness();
        Seed(h);
        await h.RunAsync(RunKind.Total);
        h.Source.Rows("Adresse").RemoveAt(2);
        await h.RunAsync(RunKind.Delta);
        var catalog = await h.CatalogAsync();

        foreach (var format in new[] { "GPKG", "GML" })
        {
            var delta = catalog.Files.Single(f => f.EntityName == "Adresse" && f.TypeOfDownload == FileNaming.DeltaDownload && f.GenerationNumber == 2 && f.ContainedFileFormat == format);
            var info = ReaderTools.OgrInfoSummary(await ExtractAsync(h, delta));
            ReaderTools.HasAll(info, "Feature Count: 1", "operation: String");
        }
    }

    [Fact]
    public async Task GpkgAskedForByAnEntityWithTwoGeometries_FailsNamingTheField_AndPublishesNothing()
    {
        using var h = new ExportHarness(s =>
        {
            s.Entities = [new EntitySpec { Name = "Adresse", Key = ["id"], Geometry = new GeometrySpec { Column = "geom" }, Formats = [OutputFormats.GeoPackage] }];
            s.Output.Formats = [OutputFormats.GeoPackage];
        });
        h.Source.Set("Adresse", [.. AdresseColumns, new Column("centroid", ColumnKind.Geometry)], [[1L, "x", Point(1, 2), Point(1, 2)]]);

        var e = await Assert.ThrowsAnyAsync<Exception>(() => h.RunAsync(RunKind.Total));
        Assert.Contains("spec.entities[].formats", e.ToString(), StringComparison.Ordinal);
        Assert.Null(await h.Store.GetBytesAsync(FileNaming.CatalogKey(h.Register), CancellationToken.None));
    }

    [Theory]
    [InlineData(OutputFormats.GeoPackage)]
    [InlineData(OutputFormats.Gml)]
    [InlineData(OutputFormats.Parquet)]
    public async Task AGeometryWithAnM_FailsTheRunNamingEntityAndColumn_AndPublishesNothing(string format)
    {
        using var h = new ExportHarness(s =>
        {
            s.Entities = [new EntitySpec { Name = "Adresse", Key = ["id"], Geometry = new GeometrySpec { Column = "geom" } }];
            s.Output.Formats = [format, OutputFormats.JsonLines];
        });
        h.Source.Set("Adresse", AdresseColumns, [[1L, "x", Point(1, 2)], [2L, "m", new GeometryValue("{\"type\":\"Point\",\"coordinates\":[3,4]}", "POINT M (3 4 9)", 25832)]]);

        var e = await Assert.ThrowsAnyAsync<Exception>(() => h.RunAsync(RunKind.Total));
        Assert.Contains("entity Adresse, column geom: a geometry has an M (measure) ordinate", e.ToString(), StringComparison.Ordinal);
        Assert.Null(await h.Store.GetBytesAsync(FileNaming.CatalogKey(h.Register), CancellationToken.None));
    }
}
