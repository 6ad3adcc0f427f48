using System.Text.Json;
using System.Text.Json.Nodes;
using BulkExport.Operator.Kubernetes;

namespace BulkExport.Operator.Runtime;

/// <summary>
/// Decides whether a live object still is what the operator wants, without comparing whole
/// server-defaulted objects: the desired-hash annotation must match (catches spec changes, also
/// removed fields) and every field the operator sets must have its value (catches edits by others).
/// Fields the operator does not set (server defaults, other controllers' additions) are ignored.
/// </summary>
internal static class Drift
{
    /// <summary>The annotation holding a hash of the desired object as the operator last rendered it.</summary>
    public const string HashAnnotation = "bulkexport.io/desired-hash";

    public static string? Hash(JsonObject obj) => (string?)obj["metadata"]?["annotations"]?[HashAnnotation];

    public static bool Matches(JsonObject desired, JsonObject live)
    {
        if (Hash(desired) != Hash(live))
        {
            return false;
        }

        var desiredMeta = desired.Metadata();
        var liveMeta = live.Metadata();
        return Subset(desiredMeta["labels"], liveMeta["labels"])
            && Subset(desiredMeta["annotations"], liveMeta["annotations"])
            && OwnersMatch(desiredMeta["ownerReferences"] as JsonArray, liveMeta["ownerReferences"] as JsonArray)
            && Subset(desired["spec"], live["spec"])
            && PodSecurityMatches(PodSpec(desired), PodSpec(live))
            && JsonNode.DeepEquals(desired["data"], live["data"]);
    }

    /// <summary>
    /// Pod fields the operator leaves unset but that widen what the exporter pod may do: set by
    /// someone else, they are drift to revert even though <see cref="Subset"/> ignores unset fields.
    /// </summary>
    private static readonly string[] GuardedPodFields =
    [
        "hostNetwork", "hostPID", "hostIPC", "hostUsers", "shareProcessNamespace", "serviceAccountName", "serviceAccount",
        "automountServiceAccountToken", "nodeName", "nodeSelector", "affinity", "tolerations", "runtimeClassName",
        "initContainers", "ephemeralContainers", "securityContext", "volumes",
    ];

    private static readonly string[] GuardedContainerFields = ["securityContext", "ports", "volumeMounts", "envFrom"];

    private static JsonObject? PodSpec(JsonObject obj) => obj["spec"]?["jobTemplate"]?["spec"]?["template"]?["spec"] as JsonObject;

    private static bool PodSecurityMatches(JsonObject? desired, JsonObject? live)
    {
        if (desired is null || live is null)
        {
            return desired is null;
        }

        // Volumes get server defaults (defaultMode) the operator does not state, so they compare by
        // Subset: the same number of volumes, each with every field the operator states.
        if (!GuardedPodFields.All(f => f == "volumes" ? Subset(desired[f], live[f]) : Same(desired[f], live[f])))
        {
            return false;
        }

        var want = desired["containers"] as JsonArray ?? [];
        var have = live["containers"] as JsonArray ?? [];
        return want.Count == have.Count && want.Zip(have).All(p => GuardedContainerFields.All(f => Same(p.First?[f], p.Second?[f])));
    }

    /// <summary>Equal, with absent, null and false (or an empty object or list) meaning the same.</summary>
    private static bool Same(JsonNode? want, JsonNode? have)
    {
        static bool Empty(JsonNode? n) => n is null
            || (n is JsonValue v && v.GetValueKind() == JsonValueKind.False)
            || (n is JsonObject o && o.Count == 0)
            || (n is JsonArray a && a.Count == 0);

        return (Empty(want) && Empty(have)) || JsonNode.DeepEquals(want, have);
    }

    /// <summary>Our controller reference is there and nobody else claims control; others' non-controller references are theirs to keep.</summary>
    private static bool OwnersMatch(JsonArray? desired, JsonArray? live)
    {
        if (desired is null)
        {
            return true;
        }

        var liveRefs = (live ?? []).OfType<JsonObject>().ToList();
        return desired.OfType<JsonObject>().All(d => liveRefs.Any(l => Subset(d, l)))
            && liveRefs.Count(IsController) == desired.OfType<JsonObject>().Count(IsController);
    }

    private static bool IsController(JsonObject reference) => reference["controller"] is JsonValue c && c.TryGetValue<bool>(out var b) && b;

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

        if (desiredMeta["ownerReferences"] is JsonArray owners)
        {
            // Ours, plus the non-controller references other tools added (not fought over).
            var desiredUids = owners.Select(o => (string?)o?["uid"]).ToHashSet();
            var merged = (JsonArray)owners.DeepClone();
            foreach (var foreign in (meta["ownerReferences"] as JsonArray ?? []).OfType<JsonObject>().Where(o => !IsController(o) && !desiredUids.Contains((string?)o["uid"])))
            {
                merged.Add(foreign.DeepClone());
            }

            meta["ownerReferences"] = merged;
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
