using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BulkExport.Api;
using BulkExport.Operator.Kubernetes;

namespace BulkExport.Operator.Reconciling;

internal sealed record DesiredObjects(JsonObject ConfigMap, JsonObject TotalCronJob, JsonObject DeltaCronJob)
{
    public IEnumerable<JsonObject> CronJobs => [TotalCronJob, DeltaCronJob];
}

/// <summary>
/// The objects one ExportSchedule stands for: a ConfigMap holding the exporter config and the total
/// and delta CronJobs. Everything here is a pure function of the schedule, so render, reconcile and
/// the idempotency check agree byte for byte.
/// </summary>
internal static class DesiredState
{
    public const string ConfigKey = "schedule.yaml";
    public const string ConfigMountPath = "/etc/bulkexport";
    public const string ContainerName = "exporter";
    private const int DefaultHistoryLimit = 3;
    private const int DefaultBackoffLimit = 2;

    /// <summary>
    /// The missed-run policy: the CronJob controller starts a missed run only if it is at most this
    /// old, and only the latest one. So a controller (or cluster) outage gives at most one catch-up
    /// run, and "too many missed start times" cannot happen, since the controller counts missed
    /// times only inside this window. Resuming a suspended schedule starts none at all: the
    /// controller moves the CronJob's lastScheduleTime first (ScheduleController).
    /// </summary>
    public const long DefaultStartingDeadlineSeconds = 300;

    public static string ConfigMapName(string schedule) => $"{schedule}-config";
    public static string CronJobName(string schedule, string type) => $"{schedule}-{type}";

    /// <param name="ownerUid">The schedule's uid; null when rendering without a cluster (no ownerReference then).</param>
    public static DesiredObjects Build(ExportSchedule schedule, string? ownerUid, string exporterImage)
    {
        var name = schedule.Metadata.Name!;
        var ns = schedule.Metadata.Namespace;
        var configMap = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "ConfigMap",
            ["metadata"] = Metadata(ConfigMapName(name), ns, name, null, schedule, ownerUid),
            ["data"] = new JsonObject { [ConfigKey] = ExporterConfig(schedule) },
        };
        return new DesiredObjects(
            Stamp(configMap),
            Stamp(CronJob(schedule, Labels.Total, schedule.Spec.Total.Schedule, ownerUid, exporterImage)),
            Stamp(CronJob(schedule, Labels.Delta, schedule.Spec.Delta.Schedule, ownerUid, exporterImage)));
    }

    /// <summary>The exporter's config file: the schedule itself without server metadata or status.</summary>
    public static string ExporterConfig(ExportSchedule schedule)
    {
        var clean = new ExportSchedule
        {
            Metadata = new ObjectMeta { Name = schedule.Metadata.Name, Namespace = schedule.Metadata.Namespace },
            Spec = schedule.Spec,
        };
        var node = JsonSerializer.SerializeToNode(clean, ScheduleDocument.JsonOptions)!;
        return YamlWriter.Write(node);
    }

    private static JsonObject CronJob(ExportSchedule schedule, string type, string cron, string? ownerUid, string exporterImage)
    {
        var spec = schedule.Spec;
        var name = schedule.Metadata.Name!;
        var jobs = spec.Jobs ?? new JobsSpec();
        var podLabels = LabelSet(name, type);

        var jobSpec = new JsonObject { ["backoffLimit"] = jobs.BackoffLimit ?? DefaultBackoffLimit };
        if (jobs.ActiveDeadlineSeconds is { } active)
        {
            jobSpec["activeDeadlineSeconds"] = active;
        }

        if (jobs.TtlSecondsAfterFinished is { } ttl)
        {
            jobSpec["ttlSecondsAfterFinished"] = ttl;
        }

        jobSpec["template"] = new JsonObject
        {
            ["metadata"] = new JsonObject { ["labels"] = podLabels.DeepClone() },
            ["spec"] = PodSpec(schedule, type, exporterImage),
        };

        var cronSpec = new JsonObject
        {
            ["schedule"] = cron,
            ["timeZone"] = spec.TimeZone,
            ["concurrencyPolicy"] = "Forbid",
            ["suspend"] = spec.Suspend,
        };
        cronSpec["startingDeadlineSeconds"] = jobs.StartingDeadlineSeconds ?? DefaultStartingDeadlineSeconds;

        cronSpec["successfulJobsHistoryLimit"] = jobs.SuccessfulJobsHistoryLimit ?? DefaultHistoryLimit;
        cronSpec["failedJobsHistoryLimit"] = jobs.FailedJobsHistoryLimit ?? DefaultHistoryLimit;
        cronSpec["jobTemplate"] = new JsonObject
        {
            ["metadata"] = new JsonObject { ["labels"] = podLabels.DeepClone() },
            ["spec"] = jobSpec,
        };

        return new JsonObject
        {
            ["apiVersion"] = "batch/v1",
            ["kind"] = "CronJob",
            ["metadata"] = Metadata(CronJobName(name, type), schedule.Metadata.Namespace, name, type, schedule, ownerUid),
            ["spec"] = cronSpec,
        };
    }

    private static JsonObject PodSpec(ExportSchedule schedule, string type, string exporterImage)
    {
        var spec = schedule.Spec;
        var env = new JsonArray
        {
            new JsonObject
            {
                ["name"] = ExporterEnvironment.JobName,
                ["valueFrom"] = new JsonObject
                {
                    ["fieldRef"] = new JsonObject
                    {
                        // Stated explicitly: the server defaults it, and a missing field would read as drift.
                        ["apiVersion"] = "v1",
                        ["fieldPath"] = $"metadata.labels['{Reconciling.Labels.JobName}']",
                    },
                },
            },
        };
        if (spec.Source.Postgres is { } pg)
        {
            env.Add(SecretEnv(ExporterEnvironment.PostgresConnectionString, pg.ConnectionSecretRef.Name, pg.ConnectionSecretRef.Key));
        }

        if (spec.Storage.S3?.CredentialsSecretRef is { } creds)
        {
            env.Add(SecretEnv(ExporterEnvironment.AwsAccessKeyId, creds.Name, creds.AccessKeyIdKey));
            env.Add(SecretEnv(ExporterEnvironment.AwsSecretAccessKey, creds.Name, creds.SecretAccessKeyKey));
        }

        if (spec.Signing?.SecretRef is { } signing)
        {
            env.Add(SecretEnv(ExporterEnvironment.SigningKey, signing.Name, signing.Key));
            if (signing.NextPublicKeyKey is { } next)
            {
                env.Add(SecretEnv(ExporterEnvironment.SigningNextPublicKey, signing.Name, next));
            }
        }

        var mounts = new JsonArray
        {
            new JsonObject { ["name"] = "config", ["mountPath"] = ConfigMountPath, ["readOnly"] = true },
            new JsonObject { ["name"] = "tmp", ["mountPath"] = "/tmp" },
        };
        var volumes = new JsonArray
        {
            new JsonObject
            {
                ["name"] = "config",
                ["configMap"] = new JsonObject
                {
                    ["name"] = ConfigMapName(schedule.Metadata.Name!),
                    ["items"] = new JsonArray { new JsonObject { ["key"] = ConfigKey, ["path"] = ConfigKey } },
                    ["defaultMode"] = 420,
                },
            },
            new JsonObject { ["name"] = "tmp", ["emptyDir"] = new JsonObject() },
        };
        if (spec.Source.Files is { ClaimName: { } sourceClaim } files)
        {
            mounts.Add(new JsonObject { ["name"] = "source", ["mountPath"] = files.Path, ["readOnly"] = true });
            volumes.Add(new JsonObject { ["name"] = "source", ["persistentVolumeClaim"] = new JsonObject { ["claimName"] = sourceClaim, ["readOnly"] = true } });
        }

        if (spec.Storage.Local is { ClaimName: { } outputClaim } local)
        {
            mounts.Add(new JsonObject { ["name"] = "output", ["mountPath"] = local.Path });
            volumes.Add(new JsonObject { ["name"] = "output", ["persistentVolumeClaim"] = new JsonObject { ["claimName"] = outputClaim } });
        }

        var container = new JsonObject
        {
            ["name"] = ContainerName,
            ["image"] = spec.Exporter?.Image ?? exporterImage,
        };
        if (spec.Exporter?.ImagePullPolicy is { } pull)
        {
            container["imagePullPolicy"] = pull;
        }

        container["command"] = new JsonArray("exporter");
        container["args"] = new JsonArray("run", "--config", ExporterEnvironment.ConfigPath, "--type", type);
        container["env"] = env;
        if (spec.Exporter?.Resources is { } resources)
        {
            container["resources"] = JsonSerializer.SerializeToNode(resources, ScheduleDocument.JsonOptions);
        }

        container["securityContext"] = new JsonObject
        {
            ["allowPrivilegeEscalation"] = false,
            ["readOnlyRootFilesystem"] = true,
            ["runAsNonRoot"] = true,
            ["capabilities"] = new JsonObject { ["drop"] = new JsonArray("ALL") },
        };
        container["terminationMessagePolicy"] = "FallbackToLogsOnError";
        container["volumeMounts"] = mounts;

        var podSpec = new JsonObject
        {
            // The Job retries through backoffLimit; restarting in place would hide the exit code.
            ["restartPolicy"] = "Never",
        };
        if (spec.Exporter?.ServiceAccountName is { } sa)
        {
            podSpec["serviceAccountName"] = sa;
        }
        else
        {
            // The exporter never calls the Kubernetes API.
            podSpec["automountServiceAccountToken"] = false;
        }

        podSpec["securityContext"] = new JsonObject
        {
            ["runAsNonRoot"] = true,
            ["seccompProfile"] = new JsonObject { ["type"] = "RuntimeDefault" },
        };
        podSpec["containers"] = new JsonArray { container };
        podSpec["volumes"] = volumes;
        return podSpec;
    }

    private static JsonObject SecretEnv(string name, string secret, string key) => new()
    {
        ["name"] = name,
        ["valueFrom"] = new JsonObject
        {
            ["secretKeyRef"] = new JsonObject { ["name"] = secret, ["key"] = key },
        },
    };

    private static JsonObject LabelSet(string schedule, string? type)
    {
        var labels = new JsonObject
        {
            [Reconciling.Labels.ManagedBy] = Reconciling.Labels.ManagedByValue,
            [Reconciling.Labels.Schedule] = schedule,
        };
        if (type is not null)
        {
            labels[Reconciling.Labels.Type] = type;
        }

        return labels;
    }

    private static JsonObject Metadata(string name, string? ns, string schedule, string? type, ExportSchedule owner, string? ownerUid)
    {
        var meta = new JsonObject { ["name"] = name };
        if (ns is not null)
        {
            meta["namespace"] = ns;
        }

        meta["labels"] = LabelSet(schedule, type);
        if (ownerUid is not null)
        {
            meta["ownerReferences"] = new JsonArray
            {
                new JsonObject
                {
                    ["apiVersion"] = ExportSchedule.ApiVersionV1Alpha1,
                    ["kind"] = ExportSchedule.KindName,
                    ["name"] = owner.Metadata.Name,
                    ["uid"] = ownerUid,
                    ["controller"] = true,
                    // No blockOwnerDeletion: with the OwnerReferencesPermissionEnforcement admission
                    // plugin it needs update on exportschedules/finalizers, which the operator's RBAC omits.
                },
            };
        }

        return meta;
    }

    /// <summary>
    /// Records a hash of the desired object in an annotation. Comparing hashes catches spec changes
    /// (including removed optional fields) without comparing server-defaulted objects.
    /// </summary>
    private static JsonObject Stamp(JsonObject obj)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(obj.ToJsonString())))[..16];
        obj.Metadata()["annotations"] = new JsonObject { [Reconciling.Labels.DesiredHash] = hash };
        return obj;
    }

    public static string? Hash(JsonObject obj) => (string?)obj["metadata"]?["annotations"]?[Reconciling.Labels.DesiredHash];
}
