using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Publishing.Retention;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Tests.Retention;

public sealed class RetentionPlannerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 3, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Grace = TimeSpan.FromHours(24);

    private static ManifestFile File(long generation, string download, string entity = "Adresse", string format = "JSON", string data = "Bitemporal", TimeSpan? lifetime = null) => new()
    {
        Key = $"DAR/V1/{entity}/DAR_V1_{entity}_{download}_{format}_{data}_{generation}.zip",
        FileName = $"DAR_V1_{entity}_{download}_{format}_{data}_{generation}.zip",
        EntityName = entity,
        TypeOfDownload = download,
        TypeOfData = data,
        Format = format,
        ExpirationDate = T0.AddDays(generation) + (lifetime ?? TimeSpan.FromDays(7)),
        SizeBytes = 10,
    };

    private static GenerationManifest Manifest(long generation, params ManifestFile[] files) => new()
    {
        Register = "DAR",
        Version = 1,
        Generation = generation,
        BaseGeneration = generation == 1 ? null : generation - 1,
        GenerationTime = T0.AddDays(generation),
        Files = [.. files],
    };

    private static List<StoredObject> Stored(IEnumerable<GenerationManifest> manifests, params string[] extra) =>
        [.. manifests.SelectMany(m => m.Files).Select(f => new StoredObject(f.Key, f.SizeBytes, T0)), .. extra.Select(k => new StoredObject(k, 1, T0))];

    private static (HashSet<string> Deleted, HashSet<string> Live) Plan(List<GenerationManifest> manifests, List<StoredObject> stored, DateTimeOffset now)
    {
        var plan = RetentionPlanner.Plan(manifests, stored, now, Grace, "DAR");
        return ([.. plan.Delete.Select(d => d.Key)], [.. plan.Live.Select(l => l.File.Key)]);
    }

    [Fact]
    public void ExpiredDelta_IsDeleted_AndLeavesTheCatalog()
    {
        var oldDelta = File(1, FileNaming.DeltaDownload, lifetime: TimeSpan.FromDays(1));
        var manifests = new List<GenerationManifest> { Manifest(1, oldDelta), Manifest(2, File(2, FileNaming.DeltaDownload)) };

        var (deleted, live) = Plan(manifests, Stored(manifests), T0.AddDays(3));

        Assert.Contains(oldDelta.Key, deleted);
        Assert.DoesNotContain(oldDelta.Key, live);
    }

    [Fact]
    public void UnexpiredDelta_IsKept()
    {
        var delta = File(1, FileNaming.DeltaDownload, lifetime: TimeSpan.FromDays(14));
        var manifests = new List<GenerationManifest> { Manifest(1, delta), Manifest(2) };

        var (deleted, live) = Plan(manifests, Stored(manifests), T0.AddDays(5));

        Assert.DoesNotContain(delta.Key, deleted);
        Assert.Contains(delta.Key, live);
    }

    [Fact]
    public void ExpiredTotal_WithoutANewerTotalOfItsGroup_IsNeverDeleted()
    {
        var total = File(1, FileNaming.TotalDownload, lifetime: TimeSpan.FromDays(1));
        // A newer total exists, but of another group (other type of data): it does not count.
        var other = File(2, FileNaming.TotalDownload, data: "Current");
        var manifests = new List<GenerationManifest> { Manifest(1, total), Manifest(2, other), Manifest(3) };

        var (deleted, live) = Plan(manifests, Stored(manifests), T0.AddDays(30));

        Assert.DoesNotContain(total.Key, deleted);
        Assert.Contains(total.Key, live);
    }

    [Fact]
    public void ExpiredTotal_WithANewerTotalOfItsGroup_IsDeleted()
    {
        var old = File(1, FileNaming.TotalDownload, lifetime: TimeSpan.FromDays(1));
        var newer = File(2, FileNaming.TotalDownload, lifetime: TimeSpan.FromDays(1));
        var manifests = new List<GenerationManifest> { Manifest(1, old), Manifest(2, newer), Manifest(3) };

        var (deleted, live) = Plan(manifests, Stored(manifests), T0.AddDays(30));

        Assert.Contains(old.Key, deleted);
        Assert.DoesNotContain(newer.Key, deleted);
        Assert.Contains(newer.Key, live);
    }

    [Fact]
    public void UnexpiredTotal_WithANewerTotal_IsKept()
    {
        var old = File(1, FileNaming.TotalDownload, lifetime: TimeSpan.FromDays(10));
        var manifests = new List<GenerationManifest> { Manifest(1, old), Manifest(2, File(2, FileNaming.TotalDownload)) };

        var (deleted, _) = Plan(manifests, Stored(manifests), T0.AddDays(5));

        Assert.DoesNotContain(old.Key, deleted);
    }

    [Fact]
    public void FilesOfTheNewestGeneration_AreNeverDeleted_EvenWhenExpired()
    {
        var delta = File(2, FileNaming.DeltaDownload, lifetime: TimeSpan.FromMinutes(1));
        var manifests = new List<GenerationManifest> { Manifest(1), Manifest(2, delta) };

        var (deleted, live) = Plan(manifests, Stored(manifests), T0.AddDays(365));

        Assert.DoesNotContain(delta.Key, deleted);
        Assert.Contains(delta.Key, live);
    }

    [Fact]
    public void ObjectsOutsideTheRegistersPrefix_AreNeverTouched()
    {
        var manifests = new List<GenerationManifest> { Manifest(1) };
        var stored = Stored(manifests, "DARX/V1/Adresse/old.zip", "other/file.zip", "catalog.json", "DAR.zip");

        var (deleted, _) = Plan(manifests, stored, T0.AddYears(5));

        Assert.Empty(deleted);
    }

    [Fact]
    public void UnreferencedFiles_AreDeletedOnlyAfterTheGracePeriod()
    {
        var manifests = new List<GenerationManifest> { Manifest(1) };
        var stored = Stored(manifests);
        stored.Add(new StoredObject("DAR/V1/Adresse/DAR_V1_Adresse_TotalDownload_JSON_Bitemporal_9.zip", 5, T0));
        stored.Add(new StoredObject("DAR/V1/Adresse/DAR_V1_Adresse_TotalDownload_JSON_Bitemporal_10.zip", 5, T0.AddHours(20)));

        var (deleted, _) = Plan(manifests, stored, T0.AddHours(25));

        Assert.Contains("DAR/V1/Adresse/DAR_V1_Adresse_TotalDownload_JSON_Bitemporal_9.zip", deleted);
        Assert.DoesNotContain("DAR/V1/Adresse/DAR_V1_Adresse_TotalDownload_JSON_Bitemporal_10.zip", deleted);
    }

    [Fact]
    public void TheGenerationSequence_IsKept_ButPreparedManifestsOfCommittedGenerationsGo()
    {
        var manifests = new List<GenerationManifest> { Manifest(1), Manifest(2) };
        var stored = Stored(manifests,
            "DAR/generations/0000000001.claim", "DAR/generations/0000000001.json", "DAR/generations/0000000000.next",
            "DAR/generations/0000000002.pending", "DAR/generations/0000000003.claim", "DAR/catalog.json");

        var (deleted, _) = Plan(manifests, stored, T0.AddYears(1));

        Assert.Equal(["DAR/generations/0000000002.pending"], deleted);
    }

    [Fact]
    public void OnlyTheNewestDeltaState_IsKept()
    {
        var m1 = Manifest(1);
        m1.Entities.Add(new ManifestEntity { Name = "Postnummer", State = new StateFile { Key = "DAR/state/Postnummer/0000000001.state" } });
        var m2 = Manifest(2);
        m2.Entities.Add(new ManifestEntity { Name = "Postnummer", State = new StateFile { Key = "DAR/state/Postnummer/0000000002.state" } });
        var stored = Stored([m1, m2], "DAR/state/Postnummer/0000000001.state", "DAR/state/Postnummer/0000000002.state");

        var (deleted, _) = Plan([m1, m2], stored, T0.AddDays(3));

        Assert.Equal(["DAR/state/Postnummer/0000000001.state"], deleted);
    }

    [Fact]
    public void AReferencedFileMissingFromTheStore_IsLeftOutOfTheCatalog()
    {
        var total = File(1, FileNaming.TotalDownload);
        var manifests = new List<GenerationManifest> { Manifest(1, total) };

        var plan = RetentionPlanner.Plan(manifests, [], T0.AddDays(1), Grace, "DAR");

        Assert.Empty(plan.Live);
        Assert.Equal(total.Key, plan.Missing.Single().Key);
    }
}
