using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Pipeline;

/// <summary>
/// The product's central promise: a consumer that loads total N and applies deltas N+1..M holds
/// exactly total M, row by row. Checked over random edit histories, from every total onwards.
/// </summary>
public sealed class DeltaChainTests
{
    private static readonly Column[] PostnummerColumns = [new("nr", ColumnKind.Integer), new("navn", ColumnKind.Text), new("n", ColumnKind.Integer)];

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    [InlineData(3, false)]
    [InlineData(4, true)]
    public async Task TotalPlusDeltas_ReproducesEveryLaterTotal(int seed, bool sortedSource)
    {
        using var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }, TypesOfDataTests.Adresse()]);
        h.Source.SortedByKey = sortedSource;
        var rng = new Random(seed);
        var plain = Enumerable.Range(0, 200).Select(i => new object?[] { (long)rng.Next(0, 100_000), $"navn {i}", (long)i }).DistinctBy(r => r[0]).ToList();
        h.Source.Set("Postnummer", PostnummerColumns, plain);
        var start = h.Time.GetUtcNow().AddDays(-1);
        var temporal = Enumerable.Range(0, 150).Select(i => new object?[] { $"id{i:D4}", $"v0", start, null, start, null }).ToList();
        h.Source.Set("Adresse", TypesOfDataTests.AdresseColumns, temporal);

        var kinds = new List<RunKind> { RunKind.Total };
        await h.RunAsync(RunKind.Total);
        for (var g = 2; g <= 9; g++)
        {
            Edit(h, rng, g);
            var kind = g % 4 == 0 ? RunKind.Total : RunKind.Delta;
            kinds.Add(kind);
            await h.RunAsync(kind);
        }

        var catalog = await h.CatalogAsync();
        var totals = Enumerable.Range(1, kinds.Count).Where(g => kinds[g - 1] == RunKind.Total).ToList();
        Assert.True(totals.Count >= 2);
        foreach (var (entity, typeOfData, identity) in new[]
                 {
                     ("Postnummer", TypesOfData.Current, new[] { "nr" }),
                     ("Adresse", TypesOfData.Bitemporal, new[] { "id", "regfra", "virkfra" }),
                 })
        {
            foreach (var from in totals)
            {
                var consumer = PublishedFiles.ByIdentity(PublishedFiles.Read(h.Store, catalog, entity, FileNaming.TotalDownload, typeOfData, from), identity);
                for (var g = from + 1; g <= kinds.Count; g++)
                {
                    var delta = catalog.Files.Single(f => f.EntityName == entity && f.TypeOfDownload == FileNaming.DeltaDownload && f.GenerationNumber == g && f.ContainedFileFormat == "JSONL");
                    Assert.Equal(g - 1, delta.BaseGenerationNumber);
                    PublishedFiles.Apply(consumer, PublishedFiles.Read(h.Store, catalog, entity, FileNaming.DeltaDownload, typeOfData, g), identity);
                    if (kinds[g - 1] == RunKind.Total)
                    {
                        var expected = PublishedFiles.ByIdentity(PublishedFiles.Read(h.Store, catalog, entity, FileNaming.TotalDownload, typeOfData, g), identity);
                        PublishedFiles.AssertSameRows(expected, consumer, $"{entity}: total {from} + deltas {from + 1}..{g} vs total {g}");
                    }
                }
            }
        }

        Assert.True((await h.VerifyAsync()).Ok);
    }

    /// <summary>Inserts, updates and deletes on the plain entity; new and ended registrations on the temporal one.</summary>
    private static void Edit(ExportHarness h, Random rng, int generation)
    {
        var now = h.Time.GetUtcNow();
        var plain = h.Source.Rows("Postnummer");
        for (var i = 0; i < 15; i++)
        {
            switch (rng.Next(3))
            {
                case 0:
                    var nr = (long)rng.Next(100_000, 200_000);
                    if (plain.All(r => (long)r[0]! != nr))
                    {
                        plain.Add([nr, $"new {generation}.{i}", (long)i]);
                    }

                    break;
                case 1 when plain.Count > 0:
                    var row = plain[rng.Next(plain.Count)];
                    row[1] = $"updated {generation}.{i}";
                    break;
                case 2 when plain.Count > 0:
                    plain.RemoveAt(rng.Next(plain.Count));
                    break;
            }
        }

        var temporal = h.Source.Rows("Adresse");
        for (var i = 0; i < 10; i++)
        {
            var current = temporal.Where(r => r[3] is null && (DateTimeOffset)r[2]! < now).ToList();
            var pick = current[rng.Next(current.Count)];
            pick[3] = now;
            if (rng.Next(4) != 0)
            {
                temporal.Add([pick[0], $"v{generation}.{i}", now, null, now, null]);
            }
        }

        temporal.Add([$"new{generation}", "fresh", now, null, now, null]);
    }

    [Fact]
    public async Task EveryGeneration_WritesADeltaForEveryEntity_EvenWhenNothingChanged()
    {
        using var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }]);
        h.Source.Set("Postnummer", PostnummerColumns, [[1L, "a", 1L]]);

        await h.RunAsync(RunKind.Total);
        await h.RunAsync(RunKind.Delta);
        var catalog = await h.CatalogAsync();

        var delta = catalog.Files.Single(f => f.TypeOfDownload == FileNaming.DeltaDownload && f.GenerationNumber == 2);
        Assert.Equal(0, delta.RecordCount);
        Assert.Equal(1, delta.BaseGenerationNumber);
    }

    [Fact]
    public async Task DuplicateKey_FailsTheRun_WithTheEntityAndKey_AndCommitsNothing()
    {
        using var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }]);
        h.Source.Set("Postnummer", PostnummerColumns, [[1L, "a", 1L], [1L, "b", 2L]]);

        var e = await Assert.ThrowsAsync<DuplicateKeyException>(() => h.RunAsync(RunKind.Total));

        Assert.Contains("Postnummer", e.Message, StringComparison.Ordinal);
        Assert.Contains("(nr=1)", e.Message, StringComparison.Ordinal);
        Assert.Null(await h.Store.GetBytesAsync(FileNaming.CatalogKey("DAR"), CancellationToken.None));
    }
}
