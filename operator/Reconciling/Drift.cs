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
    public static bool Subset(JsonNode? want, JsonNode? have, bool quantities = false)
    {
        switch (want)
        {
            case null:
                return true;
            case JsonObject w:
                // The API server rewrites resource quantities to canonical form (0.5 becomes 500m).
                return have is JsonObject h && w.All(kv => Subset(kv.Value, h[kv.Key], quantities || kv.Key is "limits" or "requests")
                    && (kv.Value is not null || h.ContainsKey(kv.Key)));
            case JsonArray wa:
                return have is JsonArray ha && wa.Count == ha.Count && wa.Select((item, i) => Subset(item, ha[i], quantities)).All(b => b);
            default:
                return have is JsonValue hv && (ScalarEquals((JsonValue)want, hv)
                    || (quantities && ResourceQuantity.TryParse(want.ToString(), out var a) && ResourceQuantity.TryParse(hv.ToString(), out var b) && a == b));
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

/// <summary>CPU and memory quantities (500m, 0.5, 1Gi, 1e3) as exact decimals, for comparing canonicalized values.</summary>
internal static partial class ResourceQuantity
{
    [System.Text.RegularExpressions.GeneratedRegex(@"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")]
    private static partial System.Text.RegularExpressions.Regex Pattern();

    public static bool TryParse(string text, out decimal value)
    {
        value = 0;
        var m = Pattern().Match(text);
        if (!m.Success || !decimal.TryParse(m.Groups[1].Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        var suffix = m.Groups[2].Value;
        decimal factor = suffix switch
        {
            "" => 1m,
            "m" => 0.001m,
            "k" => 1e3m,
            "M" => 1e6m,
            "G" => 1e9m,
            "T" => 1e12m,
            "P" => 1e15m,
            "E" => 1e18m,
            "Ki" => 1024m,
            "Mi" => 1024m * 1024,
            "Gi" => 1024m * 1024 * 1024,
            "Ti" => 1024m * 1024 * 1024 * 1024,
            "Pi" => 1024m * 1024 * 1024 * 1024 * 1024,
            "Ei" => 1024m * 1024 * 1024 * 1024 * 1024 * 1024,
            _ => (decimal)Math.Pow(10, int.Parse(suffix[1..], System.Globalization.CultureInfo.InvariantCulture)),
        };
        value = n * factor;
        return true;
    }
}
