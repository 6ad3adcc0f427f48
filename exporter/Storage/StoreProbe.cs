using System.Text;

namespace BulkExport.Exporter.Storage;

/// <summary>Tells whether a store honours create-if-absent, which the generation claim relies on.</summary>
internal static class StoreProbe
{
    public static async Task<bool> HonoursConditionalWritesAsync(IObjectStore store, CancellationToken cancellationToken)
    {
        var key = $"_probe/conditional-{Guid.NewGuid():N}";
        try
        {
            var first = await store.TryCreateAsync(key, Encoding.UTF8.GetBytes("first"), cancellationToken).ConfigureAwait(false);
            var second = await store.TryCreateAsync(key, Encoding.UTF8.GetBytes("second"), cancellationToken).ConfigureAwait(false);
            var content = await store.GetBytesAsync(key, cancellationToken).ConfigureAwait(false);
            return first && !second && content is not null && Encoding.UTF8.GetString(content) == "first";
        }
        finally
        {
            await store.DeleteAsync([key], cancellationToken).ConfigureAwait(false);
        }
    }
}
