using System.Text.Json.Nodes;
using BulkExport.Operator.Kubernetes;
using BulkExport.Operator.Tests.Support;

namespace BulkExport.Operator.Tests.Reconciling;

/// <summary>
/// What a real cluster does that an in-process fake used to hide (issue 13), each reproduced in the
/// fake API server and run through the official client.
/// </summary>
public sealed class ClusterBehaviourTests
{
    private const string Ns = TestSchedules.Namespace;

    [Fact]
    public async Task Case2_an_object_the_API_server_rejects_gives_ready_false_with_its_reason_one_warning_event_and_no_retry_loop()
    {
        await using var fx = await OperatorFixture.StartAsync();
        var schedule = TestSchedules.Files("dar");
        // Our validator accepts each quantity; the API server refuses requests above limits.
        schedule["spec"]!["exporter"] = new JsonObject
        {
            ["resources"] = new JsonObject
            {
                ["requests"] = new JsonObject { ["cpu"] = "2" },
                ["limits"] = new JsonObject { ["cpu"] = "1" },
            },
        };
        fx.CreateSchedule(schedule);
        await using var op = await fx.StartOperator().StartedAsync();

        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "False", "Ready=False");
        await fx.Settle(op, TimeSpan.FromSeconds(1));
        var posts = fx.Server.Requests.GetValueOrDefault("POST cronjobs");
        op.Runtime.Controller.ResyncNow();
        await fx.Settle(op, TimeSpan.FromMilliseconds(500));

        Assert.Equal("CronJobInvalid", OperatorFixture.Condition(fx.Schedule("dar"), "Ready", "reason"));
        Assert.Contains("must be less than or equal to cpu limit of 1", OperatorFixture.Condition(fx.Schedule("dar"), "Ready", "message"), StringComparison.Ordinal);
        Assert.Null(fx.CronJob("dar-total"));
        var ev = Assert.Single(fx.Server.List("events", Ns), e => (string?)e["reason"] == "CronJobInvalid");
        Assert.Equal("Warning", (string?)ev["type"]);
        // The rejected creates (total and delta) are not retried with backoff: the first reconcile and
        // the one the new ConfigMap's event triggers try each once; a resync once more, no more.
        Assert.InRange(posts, 2, 4);
        Assert.InRange(fx.Server.Requests.GetValueOrDefault("POST cronjobs") - posts, 0, 2);
    }

    [Fact]
    public async Task Case2_the_fake_server_rejects_unknown_groups_and_versions_with_404()
    {
        await using var fx = await OperatorFixture.StartAsync();
        using var client = fx.NewClient();
        var wrongVersion = new ResourceType("batch", "v1beta1", "cronjobs", "CronJob");
        var wrongGroup = new ResourceType("apps", "v1", "configmaps", "ConfigMap");

        var e1 = await Assert.ThrowsAsync<KubeApiException>(() => client.ListAsync(wrongVersion, Ns, null, default));
        var e2 = await Assert.ThrowsAsync<KubeApiException>(() => client.CreateAsync(wrongGroup, Ns, new JsonObject { ["metadata"] = new JsonObject { ["name"] = "x" } }, default));

        Assert.True(e1.IsNotFound);
        Assert.True(e2.IsNotFound);
    }

    [Fact]
    public async Task Case6_lists_are_read_in_pages_with_limit_and_continue_and_the_watch_resumes_from_the_first_page()
    {
        await using var fx = await OperatorFixture.StartAsync();
        for (var i = 0; i < 7; i++)
        {
            fx.Server.Create("configmaps", new JsonObject { ["metadata"] = new JsonObject { ["name"] = $"cm-{i}", ["namespace"] = Ns } });
        }

        using var client = KubeApiClient.ForServer(fx.Server.Url, pageSize: 3);
        var pagesBefore = fx.Server.ListPages;
        var list = await client.ListAsync(ResourceType.ConfigMaps, Ns, null, default);

        Assert.Equal(7, list.Items.Count);
        Assert.Equal(Enumerable.Range(0, 7).Select(i => $"cm-{i}"), list.Items.Select(i => i.Name()));
        Assert.Equal(3, fx.Server.ListPages - pagesBefore);
    }

    [Fact]
    public async Task Case6_a_request_to_a_server_that_never_answers_times_out()
    {
        await using var fx = await OperatorFixture.StartAsync();
        using var client = KubeApiClient.ForServer(fx.Server.Url, requestTimeout: TimeSpan.FromMilliseconds(300));
        fx.Server.Hang();
        try
        {
            var e = await Assert.ThrowsAsync<KubeApiException>(() => client.GetAsync(ResourceType.ConfigMaps, Ns, "x", default));
            Assert.Equal(System.Net.HttpStatusCode.RequestTimeout, e.StatusCode);
        }
        finally
        {
            fx.Server.Resume();
        }
    }

    [Theory]
    [InlineData("source", "spec.source.files.claimName")]
    [InlineData("storage", "spec.storage.local.claimName")]
    public async Task Case8_a_files_source_or_local_store_without_a_volume_is_a_validation_error_not_a_ready_schedule(string part, string field)
    {
        await using var fx = await OperatorFixture.StartAsync();
        var schedule = TestSchedules.Files("dar");
        var section = part == "source" ? schedule["spec"]!["source"]!["files"]! : schedule["spec"]!["storage"]!["local"]!;
        section.AsObject().Remove("claimName");
        fx.CreateSchedule(schedule);
        await using var op = await fx.StartOperator().StartedAsync();

        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "False", "Ready=False");
        Assert.Equal("InvalidSpec", OperatorFixture.Condition(fx.Schedule("dar"), "Ready", "reason"));
        Assert.StartsWith(field + ":", OperatorFixture.Condition(fx.Schedule("dar"), "Ready", "message"), StringComparison.Ordinal);
        Assert.Null(fx.CronJob("dar-total"));
        Assert.Null(fx.CronJob("dar-delta"));
    }

    [Fact]
    public async Task Case7_after_a_total_run_delta_and_last_delta_are_filled_and_next_run_is_a_time()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-total") is not null, "CronJobs");

        fx.FinishJob("dar", "total", "dar-total-1", succeeded: true, TestSchedules.SummaryJson(10, "total"), DateTimeOffset.UtcNow.AddMinutes(-1));

        await OperatorFixture.Eventually(() => fx.Schedule("dar")?["status"]?["lastDelta"] is not null, "lastDelta");
        var status = fx.Schedule("dar")!["status"]!;
        Assert.Equal(10, (long)status["lastDelta"]!["generation"]!);
        Assert.Equal("dar-total-1", (string?)status["lastDelta"]!["job"]);
        Assert.Equal((string?)status["lastTotal"]!["completionTime"], (string?)status["lastDelta"]!["completionTime"]);
        var next = DateTimeOffset.Parse((string)status["nextRunTime"]!, System.Globalization.CultureInfo.InvariantCulture);
        var total = DateTimeOffset.Parse((string)status["nextTotalTime"]!, System.Globalization.CultureInfo.InvariantCulture);
        var delta = DateTimeOffset.Parse((string)status["nextDeltaTime"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(total < delta ? total : delta, next);

        // kubectl renders a `date` column as an age: a future time would print as <invalid>.
        var crd = (JsonObject)BulkExport.Api.ScheduleDocument.ParseYaml(File.ReadAllText(RepoPaths.Crd))[0]!;
        var column = crd["spec"]!["versions"]![0]!["additionalPrinterColumns"]!.AsArray().Single(c => (string?)c!["name"] == "Next Run")!;
        Assert.Equal("string", (string?)column["type"]);
        Assert.Equal(".status.nextRunTime", (string?)column["jsonPath"]);
    }

    [Fact]
    public async Task Case1_a_run_whose_job_is_gone_before_the_operator_looks_still_reaches_status_from_its_terminated_pod()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is not null, "CronJobs");
        await fx.Settle(op);

        // ttlSecondsAfterFinished: 0: the Job is deleted as it finishes, its pod right after.
        var pod = fx.TerminatedPod("dar", "delta", "dar-delta-29000001", succeeded: true, TestSchedules.SummaryJson(41, "delta"), DateTimeOffset.UtcNow.AddSeconds(-5));
        fx.Server.Delete("pods", Ns, pod.Name());

        await OperatorFixture.Eventually(() => (long?)fx.Schedule("dar")?["status"]?["lastGeneration"] == 41, "generation 41 recorded");
        Assert.Equal("dar-delta-29000001", (string?)fx.Schedule("dar")!["status"]!["lastDelta"]!["job"]);
    }

    [Fact]
    public async Task Case1_a_run_that_left_nothing_to_read_while_the_operator_was_down_is_reported_with_a_warning_event()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        var first = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-total") is not null, "CronJobs");
        await first.StopAsync();

        // While the operator is down a total succeeds and TTL removes its Job and pod: only the
        // CronJob controller's lastSuccessfulTime remains.
        var at = DateTimeOffset.UtcNow.AddMinutes(-1).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        fx.Server.Mutate("cronjobs", Ns, "dar-total", c => c["status"] = new JsonObject { ["lastScheduleTime"] = at, ["lastSuccessfulTime"] = at }, status: true);

        await using var second = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.Server.List("events", Ns).Any(e => (string?)e["reason"] == "RunNotRecorded"), "RunNotRecorded event");
        await fx.Settle(second);
        var ev = Assert.Single(fx.Server.List("events", Ns), e => (string?)e["reason"] == "RunNotRecorded");
        Assert.Contains("total run succeeded", (string?)ev["message"], StringComparison.Ordinal);
        Assert.Equal("Warning", (string?)ev["type"]);
    }

    [Theory]
    [InlineData("privileged")]
    [InlineData("capabilities")]
    [InlineData("hostNetwork")]
    [InlineData("hostPID")]
    [InlineData("serviceAccountName")]
    [InlineData("nodeSelector")]
    [InlineData("tolerations")]
    [InlineData("hostPathVolume")]
    public async Task Case5_an_edit_by_others_that_widens_what_the_pod_may_do_is_reverted(string edit)
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True");
        await fx.Settle(op);
        var before = PodSpec(fx.CronJob("dar-total")!).ToJsonString();

        fx.Server.Mutate("cronjobs", Ns, "dar-total", c =>
        {
            var pod = PodSpec(c);
            var container = pod["containers"]![0]!.AsObject();
            switch (edit)
            {
                case "privileged": container["securityContext"]!["privileged"] = true; break;
                case "capabilities": container["securityContext"]!["capabilities"]!["add"] = new JsonArray("SYS_ADMIN"); break;
                case "hostNetwork": pod["hostNetwork"] = true; break;
                case "hostPID": pod["hostPID"] = true; break;
                case "serviceAccountName": pod["serviceAccountName"] = "cluster-admin-sa"; break;
                case "nodeSelector": pod["nodeSelector"] = new JsonObject { ["node-role.kubernetes.io/control-plane"] = "" }; break;
                case "tolerations": pod["tolerations"] = new JsonArray(new JsonObject { ["operator"] = "Exists" }); break;
                default:
                    pod["volumes"]!.AsArray().Add(new JsonObject { ["name"] = "host", ["hostPath"] = new JsonObject { ["path"] = "/" } });
                    container["volumeMounts"]!.AsArray().Add(new JsonObject { ["name"] = "host", ["mountPath"] = "/host" });
                    break;
            }
        });

        await OperatorFixture.Eventually(() => PodSpec(fx.CronJob("dar-total")!).ToJsonString() == before, $"{edit} reverted", detail: () => PodSpec(fx.CronJob("dar-total")!).ToJsonString());
    }

    [Fact]
    public async Task Case5_another_tools_non_controller_owner_reference_is_kept_and_not_fought_over()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True");
        await fx.Settle(op);
        var backup = new JsonObject { ["apiVersion"] = "velero.io/v1", ["kind"] = "Backup", ["name"] = "nightly", ["uid"] = "5f0c-backup" };

        fx.Server.Mutate("cronjobs", Ns, "dar-total", c => c["metadata"]!["ownerReferences"]!.AsArray().Add(backup.DeepClone()));
        // A spec change makes the operator write the CronJob: the foreign reference must survive that too.
        fx.Server.Mutate("exportschedules", Ns, "dar", s => s["spec"]!["total"]!["schedule"] = "0 4 * * 6");
        await OperatorFixture.Eventually(() => (string?)fx.CronJob("dar-total")!["spec"]!["schedule"] == "0 4 * * 6", "spec change applied");
        await fx.Settle(op);
        var puts = fx.Server.Requests.GetValueOrDefault("PUT cronjobs");
        op.Runtime.Controller.ResyncNow();
        await fx.Settle(op);

        var owners = fx.CronJob("dar-total")!["metadata"]!["ownerReferences"]!.AsArray();
        Assert.Equal(2, owners.Count);
        Assert.Contains(owners, o => (string?)o!["uid"] == "5f0c-backup");
        Assert.Single(owners, o => (bool?)o!["controller"] == true);
        Assert.Equal(puts, fx.Server.Requests.GetValueOrDefault("PUT cronjobs"));
    }

    private static JsonObject PodSpec(JsonObject cronJob) => cronJob["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!.AsObject();
}
