using System.Text.Json;
using System.Text.Json.Nodes;
using BulkExport.Operator.Kubernetes;

namespace BulkExport.Operator.Reconciling;

/// <summary>
/// Decides whether a live object still is what the operator wants, without comparing whole
/// server-defaulted objects: the desired-hash annotation must match (catches spec changes, also
/// removed fields) and every field the operator sets must have its value (catches edits by others).
/// Fields the operator does not set (server defaults, other controllers' additions) are ignored.
/// </summary>
internal static class Drift
{
    public static bool Matches(JsonObject desired, JsonObject live)
    {
        if (DesiredState.Hash(desired) != DesiredState.Hash(live))
        {
            return false;
        }

        var desiredMeta = desired.Metadata();
        var liveMeta = live.Metadata();
        return Subset(desiredMeta["labels"], liveMeta["labels"])
            && Subset(desiredMeta["annotations"], liveMeta["annotations"])
            && Subset(desiredMeta["ownerReferences"], liveMeta["ownerReferences"])
            && Subset(desired["spec"], live["spec"])
            && JsonNode.DeepEquals(desired["data"], live["data"]);
    }

    /// <summary>Every value in <paramref name="want"/> is present in <paramref name="have"/>; lists must have the same length.</summary>
    public static bool Subset(JsonNode? want, JsonNode? have)
    {
        switch (want)
        {
            case null:
                return true;
            case JsonObject w:
                return have is JsonObject h && w.All(kv => Subset(kv.Value, h[kv.Key]) && (kv.Value is not null || h.ContainsKey(kv.Key)));
            case JsonArray wa:
                return have is JsonArray ha && wa.Count == ha.Count && wa.Select((item, i) => Subset(item, ha[i])).All(b => b);
            default:
                return have is JsonValue hv && ScalarEquals((JsonValue)want, hv);
        }
    }

    private static bool ScalarEquals(JsonValue a, JsonValue b)
    {
        if (a.GetValueKind() == JsonValueKind.Number && b.GetValueKind() == JsonValueKind.Number)
        {
            return a.ToJsonString() == b.ToJsonString()
                || (a.TryGetValue<decimal>(out var x) && b.TryGetValue<decimal>(out var y) && x == y);
        }

        return JsonNode.DeepEquals(a, b);
    }

    /// <summary>
    /// The update to send: the live object (keeping its resourceVersion, server fields and others'
    /// labels) with the operator's labels, annotations, owner and spec or data laid over it.
    /// </summary>
    public static JsonObject Repair(JsonObject desired, JsonObject live)
    {
        var next = (JsonObject)live.DeepClone();
        var meta = next.Metadata();
        var desiredMeta = desired.Metadata();
        foreach (var section in new[] { "labels", "annotations" })
        {
            var merged = meta[section] as JsonObject ?? [];
            foreach (var (k, v) in (JsonObject)desiredMeta[section]!)
            {
                merged[k] = v?.DeepClone();
            }

            meta[section] = merged;
        }

        if (desiredMeta["ownerReferences"] is { } owners)
        {
            meta["ownerReferences"] = owners.DeepClone();
        }

        foreach (var field in new[] { "spec", "data" })
        {
            if (desired[field] is { } value)
            {
                next[field] = value.DeepClone();
            }
        }

        return next;
    }
}
