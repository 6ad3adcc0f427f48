using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace BulkExport.FakeKubeApi;

/// <summary>
/// The API server's validation of the fields the operator writes (apimachinery's name and label
/// rules, core/v1 pod spec, batch/v1 Job and CronJob, ConfigMap size), answered as 422 Invalid
/// with the server's message format: <c>Kind.group "name" is invalid: field: Invalid value: ...: reason</c>.
/// </summary>
internal static partial class Validation
{
    private const int MaxConfigMapBytes = 1024 * 1024;

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Subdomain();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")]
    private static partial Regex LabelValue();

    [GeneratedRegex("^[-._a-zA-Z0-9]+$")]
    private static partial Regex ConfigMapKey();

    [GeneratedRegex("^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    private static partial Regex EnvName();

    public static IReadOnlyList<string> Validate(string plural, JsonObject obj)
    {
        var errors = new List<string>();
        var meta = obj["metadata"] as JsonObject ?? [];
        var name = (string?)meta["name"] ?? "";
        if (name.Length > 253 || !Subdomain().IsMatch(name))
        {
            errors.Add($"metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character");
        }

        if (plural == "cronjobs" && name.Length > 52)
        {
            errors.Add($"metadata.name: Invalid value: \"{name}\": must be no more than 52 characters");
        }

        Labels(meta["labels"], "metadata.labels", errors);
        OwnerReferences(meta["ownerReferences"] as JsonArray, errors);

        switch (plural)
        {
            case "configmaps":
                ConfigMapData(obj["data"] as JsonObject, errors);
                break;
            case "cronjobs":
                CronJobSpec(obj["spec"] as JsonObject ?? [], errors);
                break;
            case "jobs":
                JobSpec(obj["spec"] as JsonObject ?? [], "spec", errors);
                break;
            default:
                break;
        }

        return errors;
    }

    private static void Labels(JsonNode? labels, string path, List<string> errors)
    {
        foreach (var (key, value) in labels as JsonObject ?? [])
        {
            var text = (string?)value ?? "";
            if (text.Length > 63 || !LabelValue().IsMatch(text))
            {
                errors.Add($"{path}: Invalid value: \"{text}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (63 characters at most) ({key})");
            }
        }
    }

    private static void OwnerReferences(JsonArray? owners, List<string> errors)
    {
        var controllers = 0;
        foreach (var (owner, i) in (owners ?? []).Select((o, i) => (o as JsonObject ?? [], i)))
        {
            foreach (var field in new[] { "apiVersion", "kind", "name", "uid" })
            {
                if (string.IsNullOrEmpty((string?)owner[field]))
                {
                    errors.Add($"metadata.ownerReferences[{i}].{field}: Invalid value: \"\": {field} must not be empty");
                }
            }

            if (owner["controller"] is JsonValue c && c.TryGetValue<bool>(out var isController) && isController)
            {
                controllers++;
            }
        }

        if (controllers > 1)
        {
            errors.Add("metadata.ownerReferences: Invalid value: []v1.OwnerReference: Only one reference can have Controller set to true");
        }
    }

    private static void ConfigMapData(JsonObject? data, List<string> errors)
    {
        var total = 0;
        foreach (var (key, value) in data ?? [])
        {
            if (key.Length > 253 || !ConfigMapKey().IsMatch(key))
            {
                errors.Add($"data[{key}]: Invalid value: \"{key}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
            }

            total += key.Length + Encoding.UTF8.GetByteCount((string?)value ?? "");
        }

        if (total > MaxConfigMapBytes)
        {
            errors.Add($"[]: Too long: may not be more than {MaxConfigMapBytes} bytes");
        }
    }

    private static void CronJobSpec(JsonObject spec, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace((string?)spec["schedule"]))
        {
            errors.Add("spec.schedule: Required value");
        }

        if ((string?)spec["timeZone"] is { } tz && (tz.Length == 0 || tz.Equals("Local", StringComparison.OrdinalIgnoreCase) || tz.Trim() != tz))
        {
            errors.Add($"spec.timeZone: Invalid value: \"{tz}\": unknown time zone {tz}");
        }

        if ((string?)spec["concurrencyPolicy"] is { } policy && policy is not ("Allow" or "Forbid" or "Replace"))
        {
            errors.Add($"spec.concurrencyPolicy: Unsupported value: \"{policy}\": supported values: \"Allow\", \"Forbid\", \"Replace\"");
        }

        NonNegative(spec, "spec", "startingDeadlineSeconds", errors);
        NonNegative(spec, "spec", "successfulJobsHistoryLimit", errors);
        NonNegative(spec, "spec", "failedJobsHistoryLimit", errors);
        JobSpec(spec["jobTemplate"]?["spec"] as JsonObject ?? [], "spec.jobTemplate.spec", errors);
    }

    private static void JobSpec(JsonObject spec, string path, List<string> errors)
    {
        NonNegative(spec, path, "backoffLimit", errors);
        NonNegative(spec, path, "ttlSecondsAfterFinished", errors);
        if (Integer(spec["activeDeadlineSeconds"]) is <= 0)
        {
            errors.Add($"{path}.activeDeadlineSeconds: Invalid value: {spec["activeDeadlineSeconds"]}: must be greater than 0");
        }

        var pod = spec["template"]?["spec"] as JsonObject ?? [];
        var podPath = $"{path}.template.spec";
        if ((string?)pod["restartPolicy"] is var restart && restart is not ("Never" or "OnFailure"))
        {
            errors.Add($"{podPath}.restartPolicy: Unsupported value: \"{restart}\": supported values: \"OnFailure\", \"Never\"");
        }

        var volumes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (volume, i) in (pod["volumes"] as JsonArray ?? []).Select((v, i) => ((string?)v?["name"] ?? "", i)))
        {
            if (!DnsLabel().IsMatch(volume) || !volumes.Add(volume))
            {
                errors.Add($"{podPath}.volumes[{i}].name: Invalid value: \"{volume}\": must be a unique DNS label");
            }
        }

        var containers = pod["containers"] as JsonArray ?? [];
        if (containers.Count == 0)
        {
            errors.Add($"{podPath}.containers: Required value");
        }

        foreach (var (container, i) in containers.Select((c, i) => (c as JsonObject ?? [], i)))
        {
            var cPath = $"{podPath}.containers[{i}]";
            var cName = (string?)container["name"] ?? "";
            if (!DnsLabel().IsMatch(cName))
            {
                errors.Add($"{cPath}.name: Invalid value: \"{cName}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'");
            }

            var image = (string?)container["image"] ?? "";
            if (image.Length == 0)
            {
                errors.Add($"{cPath}.image: Required value");
            }
            else if (image.Trim() != image)
            {
                errors.Add($"{cPath}.image: Invalid value: \"{image}\": must not have leading or trailing whitespace");
            }

            foreach (var (env, j) in (container["env"] as JsonArray ?? []).Select((e, j) => ((string?)e?["name"] ?? "", j)))
            {
                if (!EnvName().IsMatch(env))
                {
                    errors.Add($"{cPath}.env[{j}].name: Invalid value: \"{env}\": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit");
                }
            }

            var mountPaths = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (mount, j) in (container["volumeMounts"] as JsonArray ?? []).Select((m, j) => (m as JsonObject ?? [], j)))
            {
                var mountName = (string?)mount["name"] ?? "";
                if (!volumes.Contains(mountName))
                {
                    errors.Add($"{cPath}.volumeMounts[{j}].name: Not found: \"{mountName}\"");
                }

                var mountPath = (string?)mount["mountPath"] ?? "";
                if (mountPath.Length == 0 || !mountPaths.Add(mountPath))
                {
                    errors.Add($"{cPath}.volumeMounts[{j}].mountPath: Invalid value: \"{mountPath}\": must be unique and not empty");
                }
            }

            Resources(container["resources"] as JsonObject, $"{cPath}.resources", errors);
        }
    }

    private static void Resources(JsonObject? resources, string path, List<string> errors)
    {
        var limits = resources?["limits"] as JsonObject ?? [];
        foreach (var (resource, value) in resources?["requests"] as JsonObject ?? [])
        {
            if (limits[resource] is { } limit && Quantity(value?.ToString()) is { } request && Quantity(limit.ToString()) is { } max && request > max)
            {
                errors.Add($"{path}.requests: Invalid value: \"{value}\": must be less than or equal to {resource} limit of {limit}");
            }
        }
    }

    private static void NonNegative(JsonObject spec, string path, string field, List<string> errors)
    {
        if (Integer(spec[field]) is < 0)
        {
            errors.Add($"{path}.{field}: Invalid value: {spec[field]}: must be greater than or equal to 0");
        }
    }

    private static long? Integer(JsonNode? node) => node is JsonValue v && v.TryGetValue<long>(out var n) ? n : null;

    [GeneratedRegex(@"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")]
    private static partial Regex QuantityPattern();

    private static decimal? Quantity(string? text)
    {
        var m = QuantityPattern().Match(text ?? "");
        if (!m.Success || !decimal.TryParse(m.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
        {
            return null;
        }

        return n * m.Groups[2].Value switch
        {
            "m" => 0.001m,
            "k" => 1e3m,
            "M" => 1e6m,
            "G" => 1e9m,
            "T" => 1e12m,
            "Ki" => 1024m,
            "Mi" => 1024m * 1024,
            "Gi" => 1024m * 1024 * 1024,
            "Ti" => 1024m * 1024 * 1024 * 1024,
            _ => 1m,
        };
    }
}
