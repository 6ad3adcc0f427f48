using System.Globalization;
using System.Text;

namespace BulkExport.Publishing.Stores;

/// <param name="Passed">Whether the store honours conditional writes.</param>
/// <param name="Detail">What was observed, for `exporter verify --store`.</param>
internal sealed record StoreCheckResult(bool Passed, string Detail);

/// <summary>Checks a store against what the publishing protocol needs from it.</summary>
internal static class StoreDiagnostics
{
    public const string ProbePrefix = "_probe/";

    /// <summary>
    /// Generation claims rely on create-if-absent being atomic. Stores that ignore <c>If-None-Match: *</c>
    /// (older S3-compatible servers) accept the second write, and two runs could then claim one generation.
    /// </summary>
    public static async Task<StoreCheckResult> CheckConditionalWritesAsync(IObjectStore store, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var key = ProbePrefix + "conditional-write-" + Guid.NewGuid().ToString("N");
        var body = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"probe\":\"{key}\"}}"));
        try
        {
            if (!await store.TryCreateAsync(key, body, cancellationToken).ConfigureAwait(false))
            {
                return new StoreCheckResult(false, $"the first create of the new key {store.Describe(key)} was refused");
            }

            var second = await store.TryCreateAsync(key, body, cancellationToken).ConfigureAwait(false);
            return second
                ? new StoreCheckResult(false,
                    $"{store.Describe(key)}: a second create of an existing key succeeded; the store ignores If-None-Match: *, " +
                    "so concurrent runs could claim the same generation")
                : new StoreCheckResult(true, $"{store.Describe(key)}: the second create was refused; conditional writes are honoured");
        }
        finally
        {
            await store.DeleteAsync([key], CancellationToken.None).ConfigureAwait(false);
        }
    }
}
