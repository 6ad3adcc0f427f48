using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Pipeline;

public sealed class CrashAndConcurrencyTests
{
    private static readonly Column[] Columns = [new("nr", ColumnKind.Integer), new("navn", ColumnKind.Text)];

    private static ExportHarness Harness()
    {
        var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }, new EntitySpec { Name = "Vej", Key = ["nr"] }]);
        h.Source.Set("Postnummer", Columns, Enumerable.Range(0, 50).Select(i => new object?[] { (long)i, $"p{i}" }));
        h.Source.Set("Vej", Columns, Enumerable.Range(0, 30).Select(i => new object?[] { (long)i, $"v{i}" }));
        return h;
    }

    [Theory]
    [InlineData(nameof(CrashPoint.AfterClaim))]
    [InlineData(nameof(CrashPoint.MidWrite))]
    [InlineData(nameof(CrashPoint.BeforeCommit))]
    [InlineData(nameof(CrashPoint.AfterCommit))]
    public async Task RunKilledAt_LeavesACatalogWhoseFilesAllCheckOut_AndTheNextRunSucceedsHigher(string crashPoint)
    {
        var point = Enum.Parse<CrashPoint>(crashPoint);
        using var h = Harness();
        await h.RunAsync(RunKind.Total);
        var catalogBefore = await h.Store.GetBytesAsync(FileNaming.CatalogKey("DAR"), CancellationToken.None);
        h.Source.Rows("Postnummer")[0][1] = "changed";
        h.Source.Rows("Vej").RemoveAt(3);

        Directory.CreateDirectory(Path.Combine(h.Root, "tmp"));
        await Assert.ThrowsAsync<SimulatedCrashException>(() => h.Runner(point).RunAsync(RunKind.Delta, CancellationToken.None));

        var afterCrash = await h.VerifyAsync();
        Assert.True(afterCrash.Ok, string.Join("; ", afterCrash.Problems));
        if (point != CrashPoint.AfterCommit)
        {
            Assert.Equal(catalogBefore, await h.Store.GetBytesAsync(FileNaming.CatalogKey("DAR"), CancellationToken.None));
        }

        h.Time.Advance(TimeSpan.FromHours(1));
        var next = await h.RunAsync(RunKind.Delta);

        Assert.Equal(3, next.Generation);
        Assert.Equal(point == CrashPoint.AfterCommit ? 2 : 1, next.BaseGeneration);
        var report = await h.VerifyAsync();
        Assert.True(report.Ok, string.Join("; ", report.Problems));
        Assert.Empty(report.Warnings);

        // Whichever generation carried them, the changes reach a consumer exactly once.
        var catalog = await h.CatalogAsync();
        var changes = catalog.Files
            .Where(f => f.TypeOfDownload == FileNaming.DeltaDownload && f.GenerationNumber > 1)
            .SelectMany(f => PublishedFiles.ReadRows(h.Store, [f]))
            .Select(r => $"{r["nr"]}:{r["operation"]}")
            .Order()
            .ToList();
        Assert.Equal(["0:update", "3:delete"], changes);
    }

    [Fact]
    public async Task FilesOfACrashedRun_AreRemovedByRetention_OnceOlderThanTheGracePeriod()
    {
        using var h = Harness();
        await h.RunAsync(RunKind.Total);
        Directory.CreateDirectory(Path.Combine(h.Root, "tmp"));
        await Assert.ThrowsAsync<SimulatedCrashException>(() => h.Runner(CrashPoint.BeforeCommit).RunAsync(RunKind.Total, CancellationToken.None));
        var orphans = Directory.EnumerateFiles(h.Store.Root, "*_2.zip", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(orphans);

        foreach (var orphan in orphans)
        {
            File.SetLastWriteTimeUtc(orphan, h.Time.GetUtcNow().UtcDateTime.AddDays(-2));
        }

        await h.RunAsync(RunKind.Delta);

        Assert.All(orphans, o => Assert.False(File.Exists(o), o));
    }

    [Fact]
    public async Task RunsStartedAtOnce_NeverCommitTheSameGeneration_AndKeepTheChainLinear()
    {
        using var h = Harness();
        await h.RunAsync(RunKind.Total);
        Directory.CreateDirectory(Path.Combine(h.Root, "tmp"));

        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Task.Run(async () =>
        {
            try
            {
                return (Summary: (RunSummary?)await h.Runner().RunAsync(i % 2 == 0 ? RunKind.Total : RunKind.Delta, CancellationToken.None), Error: (Exception?)null);
            }
            catch (CommitConflictException e)
            {
                return (Summary: (RunSummary?)null, Error: (Exception?)e);
            }
        })));

        var committed = results.Where(r => r.Summary is not null).Select(r => r.Summary!.Generation!.Value).ToList();
        Assert.NotEmpty(committed);
        Assert.Equal(committed.Count, committed.Distinct().Count());
        var ledger = await new GenerationLedger(h.Store, "DAR").ReadAsync(CancellationToken.None);
        Assert.Equal(committed.Append(1).Order(), ledger.Committed);
        var report = await h.VerifyAsync();
        Assert.True(report.Ok, string.Join("; ", report.Problems));
    }
}
