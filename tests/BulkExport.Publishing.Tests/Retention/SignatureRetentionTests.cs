using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Retention;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Tests.Retention;

/// <summary>What retention does with signing's objects: keys stay, signatures of what was never committed go.</summary>
public sealed class SignatureRetentionTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 3, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Grace = TimeSpan.FromHours(24);

    private static GenerationManifest Manifest(long generation) => new() { Register = "DAR", Version = 1, Generation = generation, GenerationTime = T0 };

    [Fact]
    public void PublicKeys_AndSignaturesOfCommittedManifests_AreNeverDeleted_UncommittedOnesGoAfterTheGracePeriod()
    {
        var committed = new List<GenerationManifest> { Manifest(1), Manifest(3) };
        string[] keep = [FileNaming.PublicKeyKey("DAR", "kid-old"), FileNaming.ManifestSignatureKey("DAR", 1), FileNaming.ManifestSignatureKey("DAR", 3)];
        var uncommitted = FileNaming.ManifestSignatureKey("DAR", 2);
        var youngUncommitted = FileNaming.ManifestSignatureKey("DAR", 4);
        var stored = keep.Append(uncommitted).Select(k => new StoredObject(k, 100, T0))
            .Append(new StoredObject(youngUncommitted, 100, T0.AddDays(30)))
            .ToList();

        var plan = RetentionPlanner.Plan(committed, stored, T0.AddDays(30).AddHours(1), Grace, "DAR");

        Assert.Equal([uncommitted], plan.Delete.Select(d => d.Key));
    }

    [Fact]
    public void OldCatalogSignatures_AreOrphans_DeletedOnceOlderThanTheGracePeriod()
    {
        var old = FileNaming.CatalogSignatureKey("DAR", new string('a', 64));
        var recent = FileNaming.CatalogSignatureKey("DAR", new string('b', 64));
        var now = T0.AddDays(2);

        var plan = RetentionPlanner.Plan([Manifest(1)], [new StoredObject(old, 100, T0), new StoredObject(recent, 100, now.AddHours(-1))], now, Grace, "DAR");

        Assert.Equal([old], plan.Delete.Select(d => d.Key));
    }
}
