using System.Text.Json.Nodes;

namespace BulkExport.Operator.Kubernetes;

/// <summary>JSON merge patches (RFC 7386, <c>application/merge-patch+json</c>) computed between two documents.</summary>
internal static class MergePatch
{
    /// <summary>
    /// The patch that turns <paramref name="from"/> into <paramref name="to"/>: members that differ,
    /// null for members <paramref name="to"/> no longer has (a merge patch deletes with null), objects
    /// recursed into (a patch merges into them) and everything else replaced whole, arrays included.
    /// JSON nulls inside <paramref name="to"/> cannot be sent this way and come out as deletions.
    /// </summary>
    public static JsonNode? Between(JsonNode? from, JsonNode? to)
    {
        if (from is not JsonObject before || to is not JsonObject after)
        {
            return to?.DeepClone();
        }

        var patch = new JsonObject();
        foreach (var (key, value) in after)
        {
            if (!before.TryGetPropertyValue(key, out var old) || !JsonNode.DeepEquals(old, value))
            {
                patch[key] = Between(old, value);
            }
        }

        foreach (var (key, _) in before)
        {
            if (!after.ContainsKey(key))
            {
                patch[key] = null;
            }
        }

        return patch;
    }
}
