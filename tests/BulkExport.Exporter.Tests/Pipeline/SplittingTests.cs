using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Pipeline;

public sealed class SplittingTests
{
    [Fact]
    public async Task EntityAboveTheRecordLimit_IsPublishedInNumberedParts_ThatTogetherHoldEveryRow()
    {
        using var h = new ExportHarness(s =>
        {
            s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }];
            s.Output.MaxRecordsPerFile = 40;
        });
        h.Source.Set("Postnummer", [new("nr", ColumnKind.Integer), new("navn", ColumnKind.Text)], Enumerable.Range(0, 130).Select(i => new object?[] { (long)i, $"n{i}" }));

        await h.RunAsync(RunKind.Total);
        var catalog = await h.CatalogAsync();

        var parts = catalog.Files.Where(f => f.TypeOfDownload == FileNaming.TotalDownload).OrderBy(f => f.Part).ToList();
        Assert.Equal([1, 2, 3, 4], parts.Select(p => p.Part));
        Assert.All(parts, p => Assert.Equal(4, p.PartCount));
        Assert.Equal("DAR_V1_Postnummer_TotalDownload_JSONL_Current_1_part2of4.zip", parts[1].Filename);
        Assert.Equal("DAR_V1_Postnummer_TotalDownload_JSONL_Current_1_part2of4.jsonl", parts[1].ContainedFileName);
        Assert.Equal([40L, 40L, 40L, 10L], parts.Select(p => p.RecordCount));
        var rows = PublishedFiles.ReadRows(h.Store, parts);
        Assert.Equal(Enumerable.Range(0, 130).Select(i => (long)i), rows.Select(r => (long)r["nr"]!).Order());
        Assert.True((await h.VerifyAsync()).Ok);
    }

    [Fact]
    public async Task EntityAboveTheByteLimit_HasNoPartAboveIt()
    {
        using var h = new ExportHarness(s =>
        {
            s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }];
            s.Output.MaxUncompressedBytes = "2Ki";
        });
        h.Source.Set("Postnummer", [new("nr", ColumnKind.Integer), new("navn", ColumnKind.Text)], Enumerable.Range(0, 400).Select(i => new object?[] { (long)i, new string('x', 20) }));

        await h.RunAsync(RunKind.Total);
        var catalog = await h.CatalogAsync();

        var totalParts = catalog.Files.Where(f => f.TypeOfDownload == FileNaming.TotalDownload).ToList();
        Assert.True(totalParts.Count > 5);
        var manifest = GenerationManifest.FromBytes((await h.Store.GetBytesAsync(FileNaming.ManifestKey("DAR", 1), CancellationToken.None))!, "m");
        Assert.All(manifest.Files, f => Assert.True(f.UncompressedBytes <= 2048, $"{f.FileName}: {f.UncompressedBytes} bytes"));
    }
}
