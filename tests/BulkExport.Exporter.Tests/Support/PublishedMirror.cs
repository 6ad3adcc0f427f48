using System.Text;
using BulkExport.Api;
using System.Text.Json.Nodes;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Stores;

namespace BulkExport.Exporter.Tests.Support;

/// <summary>
/// A consumer that reads only what is published (catalog, manifests, zipped JSONL) and mirrors every
/// entity: it loads the first live total, applies every later delta by the identity the manifest
/// names, and after each generation checks its copy against that generation's manifest fingerprint
/// and row count, and row by row against the total when one was published.
/// </summary>
internal static class PublishedMirror
{
    public static async Task<int> AssertHoldsEveryGenerationAsync(IObjectStore store, string register)
    {
        var catalog = Catalog.FromBytes((await store.GetBytesAsync(FileNaming.CatalogKey(register), CancellationToken.None))!, "catalog");
        var generations = catalog.Files.Select(f => f.GenerationNumber).Distinct().Order().ToList();
        var manifests = new Dictionary<long, GenerationManifest>();
        foreach (var g in generations)
        {
            var key = $"{FileNaming.GenerationsFolder(register)}{g:D10}.json";
            manifests[g] = GenerationManifest.FromBytes((await store.GetBytesAsync(key, CancellationToken.None))!, key);
        }

        var checks = 0;
        foreach (var entity in manifests[generations[^1]].Entities)
        {
            var identity = entity.Identity!.ToArray();
            var typeOfData = entity.Temporal ? TypesOfData.Bitemporal : TypesOfData.Current;
            var first = generations.FirstOrDefault(g => catalog.Files.Any(f => f.EntityName == entity.Name && f.GenerationNumber == g && f.TypeOfDownload == FileNaming.TotalDownload));
            Assert.True(first > 0, $"{entity.Name}: no live total");
            var mirror = PublishedFiles.ByIdentity(PublishedFiles.Read(store, catalog, entity.Name, FileNaming.TotalDownload, typeOfData, first), identity);
            AssertFingerprint(mirror, manifests[first], entity.Name, $"total {first}");
            foreach (var g in generations.Where(g => g > first))
            {
                var delta = catalog.Files.Where(f => f.EntityName == entity.Name && f.TypeOfDownload == FileNaming.DeltaDownload && f.GenerationNumber == g && f.ContainedFileFormat == "JSONL").ToList();
                Assert.NotEmpty(delta);
                Assert.All(delta, d => Assert.Equal(generations[generations.IndexOf(g) - 1], d.BaseGenerationNumber));
                var rows = PublishedFiles.ReadRows(store, delta);
                if (delta[0].Rebase == true)
                {
                    mirror.Clear();
                }

                PublishedFiles.Apply(mirror, rows, identity);
                AssertFingerprint(mirror, manifests[g], entity.Name, $"total {first} + deltas {first + 1}..{g}");
                checks++;
                if (catalog.Files.Any(f => f.EntityName == entity.Name && f.GenerationNumber == g && f.TypeOfDownload == FileNaming.TotalDownload))
                {
                    var expected = PublishedFiles.ByIdentity(PublishedFiles.Read(store, catalog, entity.Name, FileNaming.TotalDownload, typeOfData, g), identity);
                    PublishedFiles.AssertSameRows(expected, mirror, $"{entity.Name}: total {first} + deltas {first + 1}..{g} vs total {g}");
                }
            }
        }

        return checks;
    }

    /// <summary>The consumer's own fingerprint of its rows, from their JSON alone.</summary>
    public static (string Fingerprint, long Count) Fingerprint(IEnumerable<JsonObject> rows)
    {
        var sum = default(FingerprintSum);
        foreach (var row in rows)
        {
            sum.Add(CanonicalJson.RowDigest(Encoding.UTF8.GetBytes(row.ToJsonString())));
        }

        return (sum.ToHex(), sum.Count);
    }

    private static void AssertFingerprint(Dictionary<string, JsonObject> mirror, GenerationManifest manifest, string entity, string because)
    {
        var expected = manifest.Entities.Single(e => e.Name == entity);
        var (fingerprint, count) = Fingerprint(mirror.Values);
        Assert.True(expected.Fingerprint == fingerprint && expected.Records == count,
            $"{entity}: {because}: the mirror holds {count} rows with fingerprint {fingerprint}; generation {manifest.Generation}'s manifest records {expected.Records} with {expected.Fingerprint}");
    }
}
