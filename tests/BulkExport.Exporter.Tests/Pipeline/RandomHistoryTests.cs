using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Pipeline;

/// <summary>
/// Random histories over a plain and a temporal entity: inserts, updates, deletes, NULL changes, key
/// reuse, new registrations, in-place corrections, physical deletes, late-committed registrations
/// (stamped before the previous point in time), history rewrites and restores of an older state, over
/// at least 20 generations mixing totals and deltas. The mirror replayed from the published files
/// must equal every total and every generation's fingerprint, and verify must pass.
/// </summary>
public sealed class RandomHistoryTests
{
    private static readonly Column[] PlainColumns = [new("nr", ColumnKind.Integer), new("navn", ColumnKind.Text), new("beloeb", ColumnKind.Decimal)];

    [Theory]
    [InlineData(11, false)]
    [InlineData(12, true)]
    [InlineData(13, false)]
    public async Task RandomHistory_MirrorEqualsEveryTotal_AndEveryFingerprint(int seed, bool sortedSource)
    {
        try
        {
            await RunAsync(seed, sortedSource);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed} (sorted source: {sortedSource}): {e.Message}\n{e.StackTrace}");
        }
    }

    private static async Task RunAsync(int seed, bool sortedSource)
    {
        using var h = new ExportHarness(s =>
        {
            s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }, TypesOfDataTests.Adresse()];
            s.Output.MaxRecordsPerFile = 40;
        });
        h.Source.SortedByKey = sortedSource;
        var rng = new Random(seed);
        var start = h.Time.GetUtcNow().AddDays(-2);
        h.Source.Set("Postnummer", PlainColumns, Enumerable.Range(0, 60).Select(i => new object?[] { (long)i, $"navn {i}", new DecimalText($"{i}.50") }));
        h.Source.Set("Adresse", TypesOfDataTests.AdresseColumns, Enumerable.Range(0, 50).Select(i => new object?[] { $"id{i:D3}", "v0", start, null, start, null }));
        var saved = new List<(List<object?[]> Plain, List<object?[]> Temporal)>();
        DateTimeOffset? lastPointInTime = null;
        var kinds = new List<RunKind>();

        for (var g = 1; g <= 24; g++)
        {
            if (g > 1)
            {
                Edit(h, rng, g, lastPointInTime!.Value, saved);
            }

            saved.Add((Clone(h.Source.Rows("Postnummer")), Clone(h.Source.Rows("Adresse"))));
            var kind = g == 1 || rng.Next(4) == 0 ? RunKind.Total : RunKind.Delta;
            kinds.Add(kind);
            lastPointInTime = h.Time.GetUtcNow();
            await h.RunAsync(kind, advance: TimeSpan.FromMinutes(30 + rng.Next(60)));
        }

        Assert.True(kinds.Count(k => k == RunKind.Total) >= 3, "the seed gave too few totals");
        Assert.True(await PublishedMirror.AssertHoldsEveryGenerationAsync(h.Store, h.Register) >= 2 * 23);
        var report = await h.VerifyAsync();
        Assert.True(report.Ok, string.Join("\n", report.Problems));
        Assert.True(report.Replays >= 23);
    }

    private static List<object?[]> Clone(List<object?[]> rows) => [.. rows.Select(r => (object?[])r.Clone())];

    private static void Edit(ExportHarness h, Random rng, int g, DateTimeOffset lastPointInTime, List<(List<object?[]> Plain, List<object?[]> Temporal)> saved)
    {
        var now = h.Time.GetUtcNow();
        if (rng.Next(10) == 0)
        {
            // Restore an older state of both entities.
            var (plainCopy, temporalCopy) = saved[rng.Next(saved.Count)];
            h.Source.Set("Postnummer", PlainColumns, Clone(plainCopy));
            h.Source.Set("Adresse", TypesOfDataTests.AdresseColumns, Clone(temporalCopy));
            return;
        }

        var plain = h.Source.Rows("Postnummer");
        var deleted = new List<long>();
        for (var i = 0; i < 8; i++)
        {
            switch (rng.Next(5))
            {
                case 0:
                    var nr = (long)rng.Next(0, 120);
                    if (plain.All(r => (long)r[0]! != nr))
                    {
                        plain.Add([nr, $"ny {g}.{i}", new DecimalText($"{g}.{i}")]);
                    }

                    break;
                case 1 when plain.Count > 0:
                    plain[rng.Next(plain.Count)][1] = $"opdateret {g}.{i}";
                    break;
                case 2 when plain.Count > 0:
                    var gone = rng.Next(plain.Count);
                    deleted.Add((long)plain[gone][0]!);
                    plain.RemoveAt(gone);
                    break;
                case 3 when plain.Count > 0:
                    // NULL-only changes, both ways.
                    var row = plain[rng.Next(plain.Count)];
                    row[2] = row[2] is null ? new DecimalText("1.0") : null;
                    break;
                case 4 when deleted.Count > 0:
                    // Key reuse within one generation: deleted and back with other values.
                    plain.Add([deleted[0], $"genbrugt {g}", null]);
                    deleted.RemoveAt(0);
                    break;
            }
        }

        var temporal = h.Source.Rows("Adresse");
        for (var i = 0; i < 6; i++)
        {
            var current = temporal.Where(r => r[3] is null && (DateTimeOffset)r[2]! < now).ToList();
            if (current.Count == 0)
            {
                break;
            }

            var pick = current[rng.Next(current.Count)];
            switch (rng.Next(6))
            {
                case 0 or 1:
                    // A new registration: the current one ends now.
                    pick[3] = now;
                    temporal.Add([pick[0], $"v{g}.{i}", now, null, pick[4], null]);
                    break;
                case 2:
                    // An in-place correction.
                    pick[1] = $"rettet {g}.{i}";
                    break;
                case 3:
                    // A physical delete of every registration of the id.
                    temporal.RemoveAll(r => Equals(r[0], pick[0]));
                    break;
                case 4:
                    // A late commit: registered before the previous run's point in time, visible only now.
                    temporal.Add([$"late{g}.{i}", "sen", lastPointInTime.AddMinutes(-rng.Next(1, 20)), null, start(lastPointInTime), null]);
                    break;
                case 5:
                    // A history rewrite: the registration re-imported with another start.
                    pick[2] = ((DateTimeOffset)pick[2]!).AddSeconds(-rng.Next(1, 1000));
                    break;
            }
        }

        static DateTimeOffset start(DateTimeOffset t) => t.AddDays(-1);
    }
}
