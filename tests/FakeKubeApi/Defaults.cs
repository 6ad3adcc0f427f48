using System.Text.Json.Nodes;

namespace BulkExport.FakeKubeApi;

/// <summary>
/// The server-side defaulting a real API server applies to the kinds the operator writes or reads.
/// It is what makes "compare the whole object" reconcilers write forever, so the fake must do it.
/// </summary>
internal static class Defaults
{
    public static void Apply(string plural, JsonObject obj)
    {
        switch (plural)
        {
            case "cronjobs":
                CronJob(obj);
                break;
            case "jobs":
                Job(obj);
                break;
            case "pods":
                if (obj["spec"] is JsonObject podSpec)
                {
                    PodSpec(podSpec);
                }

                obj["status"] ??= new JsonObject { ["phase"] = "Pending" };
                break;
            default:
                break;
        }
    }

    private static void CronJob(JsonObject obj)
    {
        if (obj["spec"] is not JsonObject spec)
        {
            return;
        }

        spec["concurrencyPolicy"] ??= "Allow";
        spec["suspend"] ??= false;
        spec["successfulJobsHistoryLimit"] ??= 3;
        spec["failedJobsHistoryLimit"] ??= 1;
        if (spec["jobTemplate"] is JsonObject template)
        {
            template["metadata"] ??= new JsonObject();
            ((JsonObject)template["metadata"]!)["creationTimestamp"] ??= null;
            if (template["spec"]?["template"] is JsonObject podTemplate)
            {
                PodTemplate(podTemplate);
            }
        }

        obj["status"] ??= new JsonObject();
    }

    private static void Job(JsonObject obj)
    {
        if (obj["spec"] is not JsonObject spec)
        {
            return;
        }

        spec["backoffLimit"] ??= 6;
        spec["completions"] ??= 1;
        spec["parallelism"] ??= 1;
        spec["completionMode"] ??= "NonIndexed";
        spec["suspend"] ??= false;
        if (spec["template"] is JsonObject podTemplate)
        {
            PodTemplate(podTemplate);
        }

        obj["status"] ??= new JsonObject();
    }

    private static void PodTemplate(JsonObject template)
    {
        template["metadata"] ??= new JsonObject();
        ((JsonObject)template["metadata"]!)["creationTimestamp"] ??= null;
        if (template["spec"] is JsonObject spec)
        {
            PodSpec(spec);
        }
    }

    private static void PodSpec(JsonObject spec)
    {
        spec["restartPolicy"] ??= "Always";
        spec["terminationGracePeriodSeconds"] ??= 30;
        spec["dnsPolicy"] ??= "ClusterFirst";
        spec["securityContext"] ??= new JsonObject();
        spec["schedulerName"] ??= "default-scheduler";
        foreach (var c in (spec["containers"] as JsonArray ?? []).OfType<JsonObject>())
        {
            c["terminationMessagePath"] ??= "/dev/termination-log";
            c["terminationMessagePolicy"] ??= "File";
            c["imagePullPolicy"] ??= ((string?)c["image"])?.EndsWith(":latest", StringComparison.Ordinal) != false ? "Always" : "IfNotPresent";
            c["resources"] ??= new JsonObject();
            foreach (var part in new[] { "limits", "requests" })
            {
                if (c["resources"]?[part] is JsonObject list && list["cpu"] is JsonValue cpu
                    && decimal.TryParse(cpu.ToString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var cores)
                    && cores != decimal.Truncate(cores))
                {
                    // Like the real server: quantities are stored canonically, so 0.5 reads back as 500m.
                    list["cpu"] = $"{decimal.ToInt64(cores * 1000)}m";
                }
            }

            foreach (var env in (c["env"] as JsonArray ?? []).OfType<JsonObject>())
            {
                if (env["valueFrom"]?["fieldRef"] is JsonObject fieldRef)
                {
                    fieldRef["apiVersion"] ??= "v1";
                }
            }
        }

        foreach (var v in (spec["volumes"] as JsonArray ?? []).OfType<JsonObject>())
        {
            if (v["configMap"] is JsonObject cm)
            {
                cm["defaultMode"] ??= 420;
            }

            if (v["secret"] is JsonObject secret)
            {
                secret["defaultMode"] ??= 420;
            }
        }
    }
}
