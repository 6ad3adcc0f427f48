using System.Text.Json.Nodes;
using BulkExport.Api;
using BulkExport.Operator.Kubernetes;
using BulkExport.Operator.Reconciling;
using BulkExport.Operator.Tests.Support;

namespace BulkExport.Operator.Tests.Reconciling;

public sealed class DesiredStateTests
{
    private static DesiredObjects Sample() => DesiredState.Build(ScheduleDocument.LoadFile(TestSchedules.SamplePath), "uid-1", "exporter:1");

    private static JsonObject Pod(JsonObject cronJob) => (JsonObject)cronJob["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!;

    [Fact]
    public void The_exporter_runs_hardened_with_its_config_mounted_read_only_and_a_writable_tmp()
    {
        var pod = Pod(Sample().TotalCronJob);
        var container = (JsonObject)pod["containers"]![0]!;

        Assert.True((bool)pod["securityContext"]!["runAsNonRoot"]!);
        Assert.Equal("RuntimeDefault", (string?)pod["securityContext"]!["seccompProfile"]!["type"]);
        Assert.True((bool)container["securityContext"]!["readOnlyRootFilesystem"]!);
        Assert.False((bool)container["securityContext"]!["allowPrivilegeEscalation"]!);
        Assert.Equal(["ALL"], container["securityContext"]!["capabilities"]!["drop"]!.AsArray().Select(c => (string)c!));
        Assert.Equal("FallbackToLogsOnError", (string?)container["terminationMessagePolicy"]);
        Assert.Equal(["exporter"], container["command"]!.AsArray().Select(c => (string)c!));
        Assert.Equal(["run", "--config", "/etc/bulkexport/schedule.yaml", "--type", "total"], container["args"]!.AsArray().Select(c => (string)c!));
        var mounts = container["volumeMounts"]!.AsArray();
        Assert.Contains(mounts, m => (string?)m!["mountPath"] == "/etc/bulkexport" && (bool)m["readOnly"]!);
        Assert.Contains(mounts, m => (string?)m!["mountPath"] == "/tmp");
        Assert.Contains(pod["volumes"]!.AsArray(), v => v!["emptyDir"] is not null);
        Assert.Equal("Never", (string?)pod["restartPolicy"]);
    }

    [Fact]
    public void Credentials_reach_the_pod_only_as_secret_references_and_the_job_name_from_the_downward_api()
    {
        var env = Pod(Sample().DeltaCronJob)["containers"]![0]!["env"]!.AsArray();

        Assert.All(env, e => Assert.Null(e!["value"]));
        Assert.Equal("metadata.labels['batch.kubernetes.io/job-name']", (string?)env.Single(e => (string?)e!["name"] == ExporterEnvironment.JobName)!["valueFrom"]!["fieldRef"]!["fieldPath"]);
        var pg = env.Single(e => (string?)e!["name"] == ExporterEnvironment.PostgresConnectionString)!["valueFrom"]!["secretKeyRef"]!;
        Assert.Equal(("dar-db", "connectionString"), ((string?)pg["name"], (string?)pg["key"]));
        Assert.Contains(env, e => (string?)e!["name"] == ExporterEnvironment.AwsAccessKeyId && (string?)e["valueFrom"]!["secretKeyRef"]!["name"] == "s3-creds");
    }

    [Fact]
    public void Job_settings_labels_and_owner_come_from_the_schedule()
    {
        var total = Sample().TotalCronJob;

        Assert.Equal("dar-total", total.Name());
        Assert.Equal(3600, (long)total["spec"]!["startingDeadlineSeconds"]!);
        Assert.Equal(21600, (long)total["spec"]!["jobTemplate"]!["spec"]!["activeDeadlineSeconds"]!);
        Assert.Equal(2, (int)total["spec"]!["jobTemplate"]!["spec"]!["backoffLimit"]!);
        Assert.Equal("2Gi", (string?)Pod(total)["containers"]![0]!["resources"]!["limits"]!["memory"]);
        foreach (var labels in new[] { total["metadata"]!["labels"]!, total["spec"]!["jobTemplate"]!["metadata"]!["labels"]!, total["spec"]!["jobTemplate"]!["spec"]!["template"]!["metadata"]!["labels"]! })
        {
            Assert.Equal("bulkexport-operator", (string?)labels["app.kubernetes.io/managed-by"]);
            Assert.Equal("dar", (string?)labels["bulkexport.io/schedule"]);
            Assert.Equal("total", (string?)labels["bulkexport.io/type"]);
        }

        Assert.Equal("uid-1", (string?)total["metadata"]!["ownerReferences"]![0]!["uid"]);
    }

    [Fact]
    public void Claims_are_mounted_at_the_source_and_storage_paths()
    {
        var desired = DesiredState.Build(ScheduleDocument.FromJson(TestSchedules.Files("dar")), "uid", "exporter:1");
        var pod = Pod(desired.DeltaCronJob);

        Assert.Contains(pod["volumes"]!.AsArray(), v => (string?)v!["persistentVolumeClaim"]?["claimName"] == "snapshots");
        Assert.Contains(pod["volumes"]!.AsArray(), v => (string?)v!["persistentVolumeClaim"]?["claimName"] == "exports");
        Assert.Contains(pod["containers"]![0]!["volumeMounts"]!.AsArray(), m => (string?)m!["mountPath"] == "/out");
        Assert.Contains(pod["containers"]![0]!["volumeMounts"]!.AsArray(), m => (string?)m!["mountPath"] == "/data" && (bool)m["readOnly"]!);
    }

    [Fact]
    public void The_config_map_holds_a_config_the_exporter_loads_back_to_the_same_schedule()
    {
        var schedule = ScheduleDocument.LoadFile(TestSchedules.SamplePath);
        var yaml = (string)DesiredState.Build(schedule, "uid", "exporter:1").ConfigMap["data"]!["schedule.yaml"]!;

        var loaded = ScheduleDocument.LoadYaml(yaml);

        Assert.Equal(
            System.Text.Json.JsonSerializer.Serialize(schedule.Spec, ScheduleDocument.JsonOptions),
            System.Text.Json.JsonSerializer.Serialize(loaded.Spec, ScheduleDocument.JsonOptions));
        Assert.Equal("dar", loaded.Metadata.Name);
    }

    [Fact]
    public void Building_twice_gives_identical_objects_and_a_spec_change_a_new_hash()
    {
        var a = Sample();
        var b = Sample();
        Assert.Equal(a.TotalCronJob.ToJsonString(), b.TotalCronJob.ToJsonString());

        var changed = ScheduleDocument.LoadFile(TestSchedules.SamplePath);
        changed.Spec.Jobs!.ActiveDeadlineSeconds = null;
        Assert.NotEqual(DesiredState.Hash(a.TotalCronJob), DesiredState.Hash(DesiredState.Build(changed, "uid-1", "exporter:1").TotalCronJob));
    }

    [Fact]
    public void The_desired_hash_stays_the_sha256_of_the_objects_json_text_so_an_upgrade_rewrites_nothing()
    {
        foreach (var obj in new[] { Sample().ConfigMap, Sample().TotalCronJob, Sample().DeltaCronJob })
        {
            // The formula every CronJob and ConfigMap in a cluster was stamped with: a different one
            // would make the new operator rewrite every object once after an upgrade.
            var unstamped = (JsonObject)obj.DeepClone();
            unstamped["metadata"]!.AsObject().Remove("annotations");
            var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(unstamped.ToJsonString())))[..16];

            Assert.Equal(expected, DesiredState.Hash(obj));
        }
    }

    [Fact]
    public void Wire_form_is_the_json_text_the_clients_serializer_writes_for_the_typed_model()
    {
        // Wire serializes straight to a node with the client's options; the text must be the one
        // KubernetesJson.Serialize gives (quantities, escaping of the config YAML, omitted nulls),
        // or hashes and request bodies would change.
        var typed = DesiredState.BuildTyped(ScheduleDocument.LoadFile(TestSchedules.SamplePath), "uid-1", "exporter:1");
        Assert.NotNull(typed.TotalCronJob.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Resources);
        foreach (var model in new object[] { typed.ConfigMap, typed.TotalCronJob, typed.DeltaCronJob })
        {
            Assert.Equal(JsonNode.Parse(k8s.KubernetesJson.Serialize(model))!.ToJsonString(), DesiredState.Wire(model).ToJsonString());
        }
    }

    [Fact]
    public void ExporterConfig_LoadsThroughTheExportersOwnValidator_AndKeepsTheSpec()
    {
        var schedule = ScheduleDocument.LoadFile(TestSchedules.SamplePath);

        var roundTripped = ScheduleDocument.LoadYaml(DesiredState.ExporterConfig(schedule), "configmap schedule.yaml");

        Assert.Equal(
            System.Text.Json.JsonSerializer.Serialize(schedule.Spec, ScheduleDocument.JsonOptions),
            System.Text.Json.JsonSerializer.Serialize(roundTripped.Spec, ScheduleDocument.JsonOptions));
        Assert.Equal(schedule.Metadata.Name, roundTripped.Metadata.Name);
    }
}
