using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Retention;

/// <summary>
/// Decides what retention deletes, as a pure function of the committed manifests, the objects under
/// the register's prefix and the time, so every rule of DESIGN.md is testable on its own:
/// a delta goes once expired; a total once expired AND a newer total of its group is committed;
/// the newest committed generation's files never go; unreferenced objects go once older than the
/// grace period; nothing outside the register's prefix is looked at.
/// </summary>
internal static class RetentionPlanner
{
    public static RetentionPlan Plan(IReadOnlyList<GenerationManifest> committed, IReadOnlyList<StoredObject> objects, DateTimeOffset now, TimeSpan orphanGrace, string register)
    {
        var prefix = register + "/";
        var existing = objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(o => o.Key, StringComparer.Ordinal);
        var ordered = committed.OrderBy(m => m.Generation).ToList();
        var newest = ordered.Count > 0 ? ordered[^1].Generation : 0;

        // The newest committed total generation of each group: its files are never deleted.
        var newestTotalOfGroup = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var manifest in ordered)
        {
            foreach (var file in manifest.Files.Where(f => f.TypeOfDownload == FileNaming.TotalDownload))
            {
                newestTotalOfGroup[file.GroupKey(manifest.Register, manifest.Version)] = manifest.Generation;
            }
        }

        var live = new List<LiveFile>();
        var delete = new List<StoredObject>();
        var missing = new List<ManifestFile>();
        var referenced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var manifest in ordered)
        {
            foreach (var file in manifest.Files)
            {
                referenced.Add(file.Key);
                var expired = now >= file.ExpirationDate;
                var keep = manifest.Generation == newest || !expired
                    || (file.TypeOfDownload == FileNaming.TotalDownload && newestTotalOfGroup[file.GroupKey(manifest.Register, manifest.Version)] == manifest.Generation);
                if (!existing.TryGetValue(file.Key, out var stored))
                {
                    if (keep)
                    {
                        missing.Add(file);
                    }

                    continue;
                }

                if (keep)
                {
                    live.Add(new LiveFile(manifest, file));
                }
                else
                {
                    delete.Add(stored);
                }
            }

            foreach (var entity in manifest.Entities.Where(e => e.State is not null))
            {
                referenced.Add(entity.State!.Key);
                // Only the newest state is a delta base; older ones wait out the grace period in
                // case a run that started from them is still finishing.
                if (manifest.Generation != newest && existing.TryGetValue(entity.State.Key, out var state) && now - state.LastModified > orphanGrace)
                {
                    delete.Add(state);
                }
            }
        }

        var committedNumbers = ordered.Select(m => m.Generation).ToHashSet();
        foreach (var obj in existing.Values)
        {
            // Public keys stay for good: they verify every manifest ever signed with them.
            if (referenced.Contains(obj.Key) || obj.Key == FileNaming.CatalogKey(register) || obj.Key.StartsWith(FileNaming.KeysFolder(register), StringComparison.Ordinal))
            {
                continue;
            }

            if (FileNaming.TryParseGenerationFile(obj.Key, register, out var generation, out var suffix))
            {
                // Claims, commit links and manifests are the sequence itself and stay. A prepared
                // manifest is redundant once its generation is committed.
                if (suffix == "pending" && (committedNumbers.Contains(generation) || now - obj.LastModified > orphanGrace))
                {
                    delete.Add(obj);
                }

                // The signature of a manifest that never got committed (written just before the commit point).
                if (suffix == "json.jws" && !committedNumbers.Contains(generation) && now - obj.LastModified > orphanGrace)
                {
                    delete.Add(obj);
                }

                continue;
            }

            if (now - obj.LastModified > orphanGrace)
            {
                delete.Add(obj);
            }
        }

        return new RetentionPlan(live, delete, missing);
    }
}

internal sealed record LiveFile(GenerationManifest Manifest, ManifestFile File);

/// <param name="Live">Files that stay published: the catalog lists exactly these.</param>
/// <param name="Delete">Objects to delete, after the catalog without them is written.</param>
/// <param name="Missing">Files a manifest references and retention would keep, but that are not in the store.</param>
internal sealed record RetentionPlan(IReadOnlyList<LiveFile> Live, IReadOnlyList<StoredObject> Delete, IReadOnlyList<ManifestFile> Missing);
