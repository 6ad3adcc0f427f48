using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Pipeline;

public sealed class ReissueTests
{
    private static readonly Column[] Columns = [new("nr", ColumnKind.Integer), new("navn", ColumnKind.Text)];

    private static ExportHarness Harness() => new(s =>
    {
        s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }, new EntitySpec { Name = "Vej", Key = ["nr"] }];
        s.Output.Formats = [OutputFormats.JsonLines, OutputFormats.Json];
    });

    [Fact]
    public async Task UnchangedEntity_ReissuesItsLastTotal_UnderTheNewName_WithTheOldInnerFileAndBytes()
    {
        using var h = Harness();
        h.Source.Set("Postnummer", Columns, [[8000L, "Aarhus C"], [9000L, "Aalborg"]]);
        h.Source.Set("Vej", Columns, [[1L, "Algade"]]);
        await h.RunAsync(RunKind.Total);

        h.Source.Rows("Vej")[0][1] = "Algade (ny)";
        await h.RunAsync(RunKind.Total);
        var catalog = await h.CatalogAsync();

        var first = catalog.Files.Where(f => f.EntityName == "Postnummer" && f.TypeOfDownload == FileNaming.TotalDownload && f.GenerationNumber == 1).ToList();
        var reissued = catalog.Files.Where(f => f.EntityName == "Postnummer" && f.TypeOfDownload == FileNaming.TotalDownload && f.GenerationNumber == 2).ToList();
        Assert.Equal(2, reissued.Count);
        foreach (var file in reissued)
        {
            var original = first.Single(f => f.ContainedFileFormat == file.ContainedFileFormat);
            Assert.EndsWith("_2.zip", file.Filename, StringComparison.Ordinal);
            Assert.Equal(1, file.ContainedGenerationNumber);
            Assert.Equal(original.ContainedFileName, file.ContainedFileName);
            Assert.EndsWith("_1." + file.ContainedFileFormat.ToLowerInvariant(), file.ContainedFileName, StringComparison.Ordinal);
            Assert.Equal(original.Sha256, file.Sha256);
            Assert.Equal(
                await h.Store.GetBytesAsync(original.Key, CancellationToken.None),
                await h.Store.GetBytesAsync(file.Key, CancellationToken.None));
        }

        var changed = catalog.Files.Where(f => f.EntityName == "Vej" && f.TypeOfDownload == FileNaming.TotalDownload && f.GenerationNumber == 2);
        Assert.All(changed, f => Assert.Equal(2, f.ContainedGenerationNumber));
        Assert.True((await h.VerifyAsync()).Ok);
    }

    [Fact]
    public async Task ReissueOfAReissue_KeepsPointingAtTheGenerationThatHoldsTheData()
    {
        using var h = Harness();
        h.Source.Set("Postnummer", Columns, [[8000L, "Aarhus C"]]);
        h.Source.Set("Vej", Columns, [[1L, "Algade"]]);
        await h.RunAsync(RunKind.Total);
        await h.RunAsync(RunKind.Delta);
        await h.RunAsync(RunKind.Total);
        await h.RunAsync(RunKind.Total);
        var catalog = await h.CatalogAsync();

        var latest = catalog.Files.Where(f => f.TypeOfDownload == FileNaming.TotalDownload && f.GenerationNumber == 4).ToList();
        Assert.NotEmpty(latest);
        Assert.All(latest, f => Assert.Equal(1, f.ContainedGenerationNumber));
    }

    [Fact]
    public async Task CurrentTotal_WhoseEffectEndedSinceTheLastTotal_IsWrittenAnew()
    {
        using var h = new ExportHarness(s =>
        {
            s.Entities = [TypesOfDataTests.Adresse()];
            s.Output.TypesOfData = [TypesOfData.Bitemporal, TypesOfData.Current];
        });
        var t = h.Time.GetUtcNow();
        h.Source.Set("Adresse", TypesOfDataTests.AdresseColumns, [["A", "ends soon", t.AddDays(-1), null, t.AddDays(-1), t.AddHours(12)]]);
        await h.RunAsync(RunKind.Total, advance: TimeSpan.FromDays(1));

        await h.RunAsync(RunKind.Total);
        var catalog = await h.CatalogAsync();

        var bitemporal = catalog.Files.Single(f => f.GenerationNumber == 2 && f.TypeOfDownload == FileNaming.TotalDownload && f.TypeOfData == TypesOfData.Bitemporal);
        var current = catalog.Files.Single(f => f.GenerationNumber == 2 && f.TypeOfDownload == FileNaming.TotalDownload && f.TypeOfData == TypesOfData.Current);
        Assert.Equal(1, bitemporal.ContainedGenerationNumber);
        Assert.Equal(2, current.ContainedGenerationNumber);
        Assert.Equal(0, current.RecordCount);
    }
}
