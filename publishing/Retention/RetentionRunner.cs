using System.Security.Cryptography;
using System.Text;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Signing;
using BulkExport.Publishing.Verification;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Retention;

/// <summary>
/// Applies retention and rewrites the catalog: the catalog without the doomed files is written
/// first, then they are deleted, so the catalog never lists a file that is gone.
/// </summary>
internal sealed class RetentionRunner(IObjectStore store, string register, TimeSpan orphanGrace, TimeProvider time, PublicationSigner? signer = null)
{
    public async Task<RetentionResult> RunAsync(bool dryRun, CancellationToken cancellationToken)
    {
        var ledger = new GenerationLedger(store, register);
        var state = await ledger.ReadAsync(cancellationToken).ConfigureAwait(false);
        var committed = await ledger.ReadCommittedAsync(state, cancellationToken).ConfigureAwait(false);
        var objects = new List<StoredObject>();
        await foreach (var obj in store.ListAsync(register + "/", cancellationToken).ConfigureAwait(false))
        {
            objects.Add(obj);
        }

        var now = time.GetUtcNow();
        var plan = RetentionPlanner.Plan(committed, objects, now, orphanGrace, register);
        plan = await KeepCurrentCatalogSignatureAsync(plan, cancellationToken).ConfigureAwait(false);
        if (!dryRun)
        {
            if (signer is not null)
            {
                await SignUnsignedManifestsAsync(signer, state.Committed, objects, cancellationToken).ConfigureAwait(false);
            }

            var catalog = Catalog.Build(register, plan.Live, state.Latest, now);
            catalog.NextSigningKey = signer?.Next;
            var catalogBytes = catalog.ToBytes();
            if (signer is not null)
            {
                // Signature first, under a name derived from the catalog's bytes: the catalog that
                // replaces the old one below is never visible without its signature, not even
                // when this run dies between the two writes (then only an unused signature is left).
                await signer.PublishKeysAsync(store, register, cancellationToken).ConfigureAwait(false);
                var signatureKey = FileNaming.CatalogSignatureKey(register, Convert.ToHexStringLower(SHA256.HashData(catalogBytes)));
                await store.PutBytesAsync(signatureKey, Encoding.ASCII.GetBytes(signer.Sign(catalogBytes)), "application/jose", cancellationToken).ConfigureAwait(false);
            }

            await store.PutBytesAsync(FileNaming.CatalogKey(register), catalogBytes, "application/json", cancellationToken).ConfigureAwait(false);
            if (plan.Delete.Count > 0)
            {
                await store.DeleteAsync([.. plan.Delete.Select(o => o.Key)], cancellationToken).ConfigureAwait(false);
            }
        }

        return new RetentionResult(plan, plan.Delete.Count, plan.Delete.Sum(o => o.Size), dryRun);
    }

    /// <summary>
    /// Manifests committed before signing was configured get their signature now, so that a register
    /// that starts signing verifies completely from its next run on. Committed manifests never
    /// change, so the signature covers exactly what consumers have been reading.
    /// </summary>
    private async Task SignUnsignedManifestsAsync(PublicationSigner signer, IReadOnlyList<long> committed, List<StoredObject> objects, CancellationToken cancellationToken)
    {
        var present = objects.Select(o => o.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var generation in committed)
        {
            if (present.Contains(FileNaming.ManifestSignatureKey(register, generation))
                || await store.GetBytesAsync(FileNaming.ManifestKey(register, generation), cancellationToken).ConfigureAwait(false) is not { } bytes)
            {
                continue;
            }

            await signer.PublishKeysAsync(store, register, cancellationToken).ConfigureAwait(false);
            // Create-if-absent: a signature that exists is never replaced.
            await store.TryCreateAsync(FileNaming.ManifestSignatureKey(register, generation), Encoding.ASCII.GetBytes(signer.Sign(bytes)), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Superseded catalog signatures are orphans (deleted once older than the grace period), except
    /// the one of the catalog being replaced now: a reader that fetched that catalog a moment ago
    /// still finds its signature; a later pass removes it.
    /// </summary>
    private async Task<RetentionPlan> KeepCurrentCatalogSignatureAsync(RetentionPlan plan, CancellationToken cancellationToken)
    {
        var current = await store.GetBytesAsync(FileNaming.CatalogKey(register), cancellationToken).ConfigureAwait(false);
        if (current is null)
        {
            return plan;
        }

        var keep = FileNaming.CatalogSignatureKey(register, Convert.ToHexStringLower(SHA256.HashData(current)));
        return plan with { Delete = [.. plan.Delete.Where(o => o.Key != keep)] };
    }
}

internal sealed record RetentionResult(RetentionPlan Plan, long DeletedFiles, long DeletedBytes, bool DryRun);
