using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Retention;

/// <summary>
/// Applies retention and rewrites the catalog: the catalog without the doomed files is written
/// first, then they are deleted, so the catalog never lists a file that is gone.
/// </summary>
internal sealed class RetentionRunner(IObjectStore store, string register, TimeSpan orphanGrace, TimeProvider time)
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
        if (!dryRun)
        {
            var catalog = Catalog.Build(register, plan.Live, state.Latest, now);
            await store.PutBytesAsync(FileNaming.CatalogKey(register), catalog.ToBytes(), "application/json", cancellationToken).ConfigureAwait(false);
            if (plan.Delete.Count > 0)
            {
                await store.DeleteAsync([.. plan.Delete.Select(o => o.Key)], cancellationToken).ConfigureAwait(false);
            }
        }

        return new RetentionResult(plan, plan.Delete.Count, plan.Delete.Sum(o => o.Size), dryRun);
    }
}

internal sealed record RetentionResult(RetentionPlan Plan, long DeletedFiles, long DeletedBytes, bool DryRun);
