using BulkExport.Api;
using BulkExport.Exporter.Cli;
using BulkExport.Exporter.Pipeline;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Pipeline;

public sealed class FailureTests
{
    private static readonly Column[] Columns = [new("nr", ColumnKind.Integer), new("navn", ColumnKind.Text)];

    [Fact]
    public async Task SourceDyingMidRead_FailsTheRunWithItsOwnError_AndPublishesNothing()
    {
        using var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }]);
        h.Source.Set("Postnummer", Columns, Enumerable.Range(0, 5000).Select(i => new object?[] { (long)i, "x" }));
        h.Source.FailWhileReading = (3000, new SourceException("entity Postnummer: connection reset", transient: true));

        var e = await Assert.ThrowsAsync<SourceException>(() => h.RunAsync(RunKind.Total));

        Assert.Contains("connection reset", e.Message, StringComparison.Ordinal);
        Assert.Equal(75, ExporterCommandLine.Classify(e));
        Assert.Null(await h.Store.GetBytesAsync(FileNaming.CatalogKey("DAR"), CancellationToken.None));
        Assert.Null(await h.Store.GetBytesAsync(FileNaming.ManifestKey("DAR", 1), CancellationToken.None));
    }

    [Fact]
    public async Task TemporalColumnHoldingText_FailsWithTheEntityAndColumn()
    {
        using var h = new ExportHarness(s => s.Entities = [TypesOfDataTests.Adresse()]);
        h.Source.Set("Adresse", TypesOfDataTests.AdresseColumns, [["A", "x", "yesterday", null, null, null]]);

        var e = await Assert.ThrowsAsync<SourceException>(() => h.RunAsync(RunKind.Total));

        Assert.Contains("Adresse", e.Message, StringComparison.Ordinal);
        Assert.Contains("regfra", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeyColumnMissingFromTheSource_FailsBeforeAnythingIsWritten()
    {
        using var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["postnr"] }]);
        h.Source.Set("Postnummer", Columns, [[1L, "a"]]);

        var e = await Assert.ThrowsAsync<SourceException>(() => h.RunAsync(RunKind.Total));

        Assert.Contains("key column 'postnr'", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(h.Store.Root, "*.zip", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task DamagedDeltaState_FailsTheDelta_InsteadOfTreatingEveryRowAsNew()
    {
        using var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }]);
        h.Source.Set("Postnummer", Columns, [[1L, "a"], [2L, "b"]]);
        await h.RunAsync(RunKind.Total);
        var state = Directory.EnumerateFiles(Path.Combine(h.Store.Root, "DAR", "state"), "*.state", SearchOption.AllDirectories).Single();
        await File.AppendAllTextAsync(state, "x");

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => h.RunAsync(RunKind.Delta));

        Assert.Contains("checksum", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeyColumnWhoseTypeChangedSinceTheLastGeneration_FailsTheDeltaNamingTheColumn_AndPublishesNothing()
    {
        using var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }]);
        h.Source.Set("Postnummer", Columns, [[1L, "a"], [2L, "b"]]);
        await h.RunAsync(RunKind.Total);
        // The same key now read as text (a JSONL file writing "1" for 1, a CSV column declared anew).
        h.Source.Set("Postnummer", [new("nr", ColumnKind.Text), new("navn", ColumnKind.Text)], [["1", "a"]]);

        var e = await Assert.ThrowsAnyAsync<Exception>(() => h.RunAsync(RunKind.Delta));

        Assert.Contains("Postnummer", e.Message, StringComparison.Ordinal);
        Assert.Contains("key column 'nr'", e.Message, StringComparison.Ordinal);
        Assert.Contains("changed", e.Message, StringComparison.Ordinal);
        Assert.Null(await h.Store.GetBytesAsync(FileNaming.ManifestKey("DAR", 2), CancellationToken.None));
    }
}
