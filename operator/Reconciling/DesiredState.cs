using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using BulkExport.Api;
using BulkExport.Operator.Kubernetes;
using k8s;
using k8s.Models;

namespace BulkExport.Operator.Reconciling;

/// <summary>
/// What one schedule stands for, in the wire form the runtime compares with its caches and writes:
/// the typed models of <see cref="DesiredState.BuildTyped"/> serialized once by the client's own
/// serializer, with the desired-hash annotation stamped on.
/// </summary>
internal sealed record DesiredObjects(JsonObject ConfigMap, JsonObject TotalCronJob, JsonObject DeltaCronJob)
{
    public IEnumerable<JsonObject> CronJobs => [TotalCronJob, DeltaCronJob];
}

internal sealed record TypedDesiredObjects(V1ConfigMap ConfigMap, V1CronJob TotalCronJob, V1CronJob DeltaCronJob);

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


    public static string ConfigMapName(string schedule) => $"{schedule}-config";
    public static string CronJobName(string schedule, string type) => $"{schedule}-{type}";

    /// <param name="ownerUid">The schedule's uid; null when rendering without a cluster (no ownerReference then).</param>
    public static DesiredObjects Build(ExportSchedule schedule, string? ownerUid, string exporterImage)
    {
        var typed = BuildTyped(schedule, ownerUid, exporterImage);
        return new DesiredObjects(Stamp(Wire(typed.ConfigMap)), Stamp(Wire(typed.TotalCronJob)), Stamp(Wire(typed.DeltaCronJob)));
    }

    /// <summary>The desired objects as the client's typed models.</summary>
    public static TypedDesiredObjects BuildTyped(ExportSchedule schedule, string? ownerUid, string exporterImage)
    {
        var name = schedule.Metadata.Name!;
        var configMap = new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = Metadata(ConfigMapName(name), schedule.Metadata.Namespace, name, null, schedule, ownerUid),
            Data = new Dictionary<string, string> { [ConfigKey] = ExporterConfig(schedule) },
        };
        return new TypedDesiredObjects(
            configMap,
            CronJob(schedule, Labels.Total, schedule.Spec.Total.Schedule, ownerUid, exporterImage),
            CronJob(schedule, Labels.Delta, schedule.Spec.Delta.Schedule, ownerUid, exporterImage));
    }

    /// <summary>A typed model in the JSON form the API server takes, by the client's own serializer settings.</summary>
    public static JsonObject Wire(object model) => JsonSerializer.SerializeToNode(model, model.GetType(), ClientJsonOptions)!.AsObject();

    /// <summary>
    /// The client's serializer options (its converters for quantities, int-or-string, times; camelCase;
    /// nulls omitted). The library keeps them private and hands them out only to a configure callback;
    /// reading them there changes nothing. Serializing to a node with them skips the text that
    /// <see cref="KubernetesJson.Serialize(object, JsonSerializerOptions?)"/> would make and parse back.
    /// </summary>
    private static readonly JsonSerializerOptions ClientJsonOptions = CaptureClientOptions();

    private static JsonSerializerOptions CaptureClientOptions()
    {
        JsonSerializerOptions? captured = null;
        KubernetesJson.AddJsonOptions(o => captured = o);
        return captured ?? throw new InvalidOperationException("KubernetesJson.AddJsonOptions did not hand out its options");
    }

    /// <summary>The exporter's config file: the schedule itself without server metadata or status.</summary>
    public static string ExporterConfig(ExportSchedule schedule)
    {
        var clean = new ExportSchedule
        {
            Metadata = new ObjectMeta { Name = schedule.Metadata.Name, Namespace = schedule.Metadata.Namespace },
            Spec = schedule.Spec,
        };
        return YamlWriter.Write(JsonSerializer.SerializeToElement(clean, ScheduleDocument.JsonOptions));
    }

    private static V1CronJob CronJob(ExportSchedule schedule, string type, string cron, string? ownerUid, string exporterImage)
    {
        var spec = schedule.Spec;
        var name = schedule.Metadata.Name!;
        var jobs = spec.Jobs ?? new JobsSpec();
        return new V1CronJob
        {
            ApiVersion = "batch/v1",
            Kind = "CronJob",
            Metadata = Metadata(CronJobName(name, type), schedule.Metadata.Namespace, name, type, schedule, ownerUid),
            Spec = new V1CronJobSpec
            {
                Schedule = cron,
                TimeZone = spec.TimeZone,
                ConcurrencyPolicy = "Forbid",
                Suspend = spec.Suspend,
                // The missed-run policy (MissedRuns), unless spec.jobs sets the deadline itself.
                StartingDeadlineSeconds = jobs.StartingDeadlineSeconds ?? MissedRuns.StartingDeadlineSeconds(spec.MissedRuns, cron, spec.TimeZone),
                SuccessfulJobsHistoryLimit = jobs.SuccessfulJobsHistoryLimit ?? DefaultHistoryLimit,
                FailedJobsHistoryLimit = jobs.FailedJobsHistoryLimit ?? DefaultHistoryLimit,
                JobTemplate = new V1JobTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = LabelSet(name, type) },
                    Spec = new V1JobSpec
                    {
                        BackoffLimit = jobs.BackoffLimit ?? DefaultBackoffLimit,
                        ActiveDeadlineSeconds = jobs.ActiveDeadlineSeconds,
                        TtlSecondsAfterFinished = jobs.TtlSecondsAfterFinished,
                        Template = new V1PodTemplateSpec
                        {
                            Metadata = new V1ObjectMeta { Labels = LabelSet(name, type) },
                            Spec = PodSpec(schedule, type, exporterImage),
                        },
                    },
                },
            },
        };
    }

    private static V1PodSpec PodSpec(ExportSchedule schedule, string type, string exporterImage)
    {
        var spec = schedule.Spec;
        var env = new List<V1EnvVar>
        {
            // fieldRef.apiVersion stated explicitly: the server defaults it, and a missing field would read as drift.
            new() { Name = ExporterEnvironment.JobName, ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { ApiVersion = "v1", FieldPath = $"metadata.labels['{Reconciling.Labels.JobName}']" } } },
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

        var mounts = new List<V1VolumeMount>
        {
            new() { Name = "config", MountPath = ConfigMountPath, ReadOnlyProperty = true },
            new() { Name = "tmp", MountPath = "/tmp" },
        };
        var volumes = new List<V1Volume>
        {
            new()
            {
                Name = "config",
                ConfigMap = new V1ConfigMapVolumeSource { Name = ConfigMapName(schedule.Metadata.Name!), Items = [new V1KeyToPath { Key = ConfigKey, Path = ConfigKey }], DefaultMode = 420 },
            },
            new() { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() },
        };
        if (spec.Source.Files is { ClaimName: { } sourceClaim } files)
        {
            mounts.Add(new V1VolumeMount { Name = "source", MountPath = files.Path, ReadOnlyProperty = true });
            volumes.Add(new V1Volume { Name = "source", PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = sourceClaim, ReadOnlyProperty = true } });
        }

        if (spec.Storage.Local is { ClaimName: { } outputClaim } local)
        {
            mounts.Add(new V1VolumeMount { Name = "output", MountPath = local.Path });
            volumes.Add(new V1Volume { Name = "output", PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = outputClaim } });
        }

        var container = new V1Container
        {
            Name = ContainerName,
            Image = spec.Exporter?.Image ?? exporterImage,
            ImagePullPolicy = spec.Exporter?.ImagePullPolicy,
            Command = ["exporter"],
            Args = ["run", "--config", ExporterEnvironment.ConfigPath, "--type", type],
            Env = env,
            Resources = spec.Exporter?.Resources is { } resources
                ? KubernetesJson.Deserialize<V1ResourceRequirements>(JsonSerializer.Serialize(resources, ScheduleDocument.JsonOptions))
                : null,
            SecurityContext = new V1SecurityContext
            {
                AllowPrivilegeEscalation = false,
                ReadOnlyRootFilesystem = true,
                RunAsNonRoot = true,
                Capabilities = new V1Capabilities { Drop = ["ALL"] },
            },
            TerminationMessagePolicy = "FallbackToLogsOnError",
            VolumeMounts = mounts,
        };

        return new V1PodSpec
        {
            // The Job retries through backoffLimit; restarting in place would hide the exit code.
            RestartPolicy = "Never",
            ServiceAccountName = spec.Exporter?.ServiceAccountName,
            // The exporter never calls the Kubernetes API: no token unless a service account is named.
            AutomountServiceAccountToken = spec.Exporter?.ServiceAccountName is null ? false : null,
            SecurityContext = new V1PodSecurityContext { RunAsNonRoot = true, SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" } },
            Containers = [container],
            Volumes = volumes,
        };
    }

    private static V1EnvVar SecretEnv(string name, string secret, string key) =>
        new() { Name = name, ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = secret, Key = key } } };

    private static Dictionary<string, string> LabelSet(string schedule, string? type)
    {
        var labels = new Dictionary<string, string>
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

    private static V1ObjectMeta Metadata(string name, string? ns, string schedule, string? type, ExportSchedule owner, string? ownerUid) => new()
    {
        Name = name,
        NamespaceProperty = ns,
        Labels = LabelSet(schedule, type),
        OwnerReferences = ownerUid is null
            ? null
            :
            [
                // No blockOwnerDeletion: with the OwnerReferencesPermissionEnforcement admission
                // plugin it needs update on exportschedules/finalizers, which the operator's RBAC omits.
                new V1OwnerReference { ApiVersion = ExportSchedule.ApiVersionV1Alpha1, Kind = ExportSchedule.KindName, Name = owner.Metadata.Name, Uid = ownerUid, Controller = true },
            ],
    };

    /// <summary>
    /// Records a hash of the desired object in an annotation. Comparing hashes catches spec changes
    /// (including removed optional fields) without comparing server-defaulted objects.
    /// </summary>
    private static JsonObject Stamp(JsonObject obj)
    {
        // The UTF-8 bytes ToJsonString would give, without the string in between (same bytes, same hash).
        var hash = Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(obj)))[..16];
        obj.Metadata()["annotations"] = new JsonObject { [Reconciling.Labels.DesiredHash] = hash };
        return obj;
    }

    public static string? Hash(JsonObject obj) => Runtime.Drift.Hash(obj);
}
