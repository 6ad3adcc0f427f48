using System.Text.Json.Nodes;
using BulkExport.Operator.Hosting;
using BulkExport.Operator.Reconciling;
using BulkExport.Operator.Tests.Support;

namespace BulkExport.Operator.Tests.Reconciling;

public sealed class ScheduleReconcilerTests
{
    private const string Ns = TestSchedules.Namespace;

    [Fact]
    public async Task Creating_a_schedule_creates_its_config_map_and_two_cron_jobs_and_marks_it_ready()
    {
        await using var fx = await OperatorFixture.StartAsync();
        var schedule = fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();

        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True");
        var total = fx.CronJob("dar-total")!;
        var delta = fx.CronJob("dar-delta")!;
        Assert.NotNull(fx.Server.Get("configmaps", Ns, "dar-config"));
        Assert.Equal("0 3 * * 6", (string?)total["spec"]!["schedule"]);
        Assert.Equal("0 3 * * *", (string?)delta["spec"]!["schedule"]);
        Assert.Equal("Forbid", (string?)total["spec"]!["concurrencyPolicy"]);
        Assert.Equal("Europe/Copenhagen", (string?)total["spec"]!["timeZone"]);
        Assert.Equal("total", (string?)total["metadata"]!["labels"]!["bulkexport.io/type"]);
        var owner = total["metadata"]!["ownerReferences"]![0]!;
        Assert.Equal((string?)schedule["metadata"]!["uid"], (string?)owner["uid"]);
        Assert.True((bool)owner["controller"]!);
        var status = fx.Schedule("dar")!["status"]!;
        Assert.Equal(1, (long)status["observedGeneration"]!);
        Assert.NotNull(status["nextTotalTime"]);
        Assert.NotNull(status["nextDeltaTime"]);
    }

    [Fact]
    public async Task Reconciling_an_unchanged_schedule_again_writes_nothing_although_the_server_defaulted_the_cron_jobs()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True");
        await fx.Settle(op);
        Assert.Equal("default-scheduler", (string?)fx.CronJob("dar-total")!["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!["schedulerName"]);

        fx.Server.ResetCounters();
        await op.Runtime.Controller.ReconcileAsync($"{Ns}/dar", CancellationToken.None);
        await op.Runtime.Controller.ReconcileAsync($"{Ns}/dar", CancellationToken.None);

        Assert.Equal(0, fx.Server.WriteRequests);
    }

    [Fact]
    public async Task Reconciling_an_unchanged_schedule_builds_no_desired_objects_yet_an_edit_by_others_is_compared_and_reverted()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True");
        await fx.Settle(op);
        var builds = op.Runtime.Reconciler.DesiredBuilds;

        await op.Runtime.Controller.ReconcileAsync($"{Ns}/dar", CancellationToken.None);
        op.Runtime.Controller.ResyncNow();
        await fx.Settle(op);
        Assert.Equal(builds, op.Runtime.Reconciler.DesiredBuilds);

        // A new resourceVersion on an owned object: compared again, and the edit reverted.
        static string PodSpec(JsonObject cronJob) => cronJob["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!.ToJsonString();
        var before = PodSpec(fx.CronJob("dar-delta")!);
        fx.Server.Mutate("cronjobs", Ns, "dar-delta", c => c["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!["hostNetwork"] = true);
        await OperatorFixture.Eventually(() => PodSpec(fx.CronJob("dar-delta")!) == before, "hostNetwork reverted");
        Assert.True(op.Runtime.Reconciler.DesiredBuilds > builds);
    }

    [Fact]
    public async Task Editing_an_owned_cron_job_is_reverted()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is not null, "CronJob");

        fx.Server.Mutate("cronjobs", Ns, "dar-delta", c =>
        {
            c["spec"]!["schedule"] = "*/5 * * * *";
            c["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!["containers"]![0]!["image"] = "evil:latest";
        });

        await OperatorFixture.Eventually(() => (string?)fx.CronJob("dar-delta")!["spec"]!["schedule"] == "0 3 * * *", "schedule restored");
        Assert.Equal("exporter:test", (string?)fx.CronJob("dar-delta")!["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]);
    }

    [Fact]
    public async Task Deleting_an_owned_cron_job_recreates_it()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-total") is not null, "CronJob");

        var oldUid = (string?)fx.CronJob("dar-total")!["metadata"]!["uid"];
        fx.Server.Delete("cronjobs", Ns, "dar-total");

        await OperatorFixture.Eventually(() => fx.CronJob("dar-total") is { } c && (string?)c["metadata"]!["uid"] != oldUid, "CronJob recreated");
    }

    [Fact]
    public async Task Changing_the_spec_updates_the_cron_jobs_in_place()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is not null, "CronJob");
        var uid = (string?)fx.CronJob("dar-delta")!["metadata"]!["uid"];

        fx.Server.Mutate("exportschedules", Ns, "dar", s =>
        {
            s["spec"]!["delta"]!["schedule"] = "30 4 * * *";
            s["spec"]!["suspend"] = true;
            s["spec"]!["jobs"] = new JsonObject { ["activeDeadlineSeconds"] = 600 };
        });

        await OperatorFixture.Eventually(() => (string?)fx.CronJob("dar-delta")!["spec"]!["schedule"] == "30 4 * * *", "delta schedule updated");
        var delta = fx.CronJob("dar-delta")!;
        Assert.Equal(uid, (string?)delta["metadata"]!["uid"]);
        Assert.True((bool)delta["spec"]!["suspend"]!);
        Assert.Equal(600, (int)delta["spec"]!["jobTemplate"]!["spec"]!["activeDeadlineSeconds"]!);
        await OperatorFixture.Eventually(() => (long?)fx.Schedule("dar")!["status"]!["observedGeneration"] == 2, "observedGeneration 2");
        Assert.Contains("30 4 * * *", (string?)fx.Server.Get("configmaps", Ns, "dar-config")!["data"]!["schedule.yaml"], StringComparison.Ordinal);

        // Removing an optional field is a change too (the hash catches what a subset comparison cannot).
        fx.Server.Mutate("exportschedules", Ns, "dar", s => ((JsonObject)s["spec"]!).Remove("jobs"));
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta")!["spec"]!["jobTemplate"]!["spec"]!["activeDeadlineSeconds"] is null, "activeDeadlineSeconds removed");
    }

    [Fact]
    public async Task Deleting_the_schedule_removes_what_it_owns()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is not null && fx.CronJob("dar-total") is not null, "CronJobs");

        fx.Server.Delete("exportschedules", Ns, "dar");

        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is null && fx.CronJob("dar-total") is null && fx.Server.Get("configmaps", Ns, "dar-config") is null, "owned objects gone");
        await Task.Delay(300);
        Assert.Null(fx.CronJob("dar-total"));
    }

    [Theory]
    [InlineData("total", "61 3 * * *", "InvalidSchedule")]
    [InlineData("timeZone", "Europe/Atlantis", "InvalidTimeZone")]
    public async Task Invalid_input_sets_ready_false_with_an_event_and_writes_no_cron_job(string field, string value, string reason)
    {
        await using var fx = await OperatorFixture.StartAsync();
        var schedule = TestSchedules.Files("dar");
        if (field == "timeZone")
        {
            schedule["spec"]!["timeZone"] = value;
        }
        else
        {
            schedule["spec"]![field]!["schedule"] = value;
        }

        fx.CreateSchedule(schedule);
        await using var op = await fx.StartOperator().StartedAsync();

        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "False", "Ready=False");
        Assert.Equal(reason, OperatorFixture.Condition(fx.Schedule("dar"), "Ready", "reason"));
        Assert.Null(fx.CronJob("dar-total"));
        Assert.Null(fx.CronJob("dar-delta"));
        var events = fx.Server.List("events", Ns);
        var ev = Assert.Single(events);
        Assert.Equal("Warning", (string?)ev["type"]);
        Assert.Equal(reason, (string?)ev["reason"]);
        Assert.Equal("dar", (string?)ev["involvedObject"]!["name"]);
    }

    [Fact]
    public async Task A_bad_edit_of_a_running_schedule_changes_nothing_already_running()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True");
        await fx.Settle(op);
        var before = fx.CronJob("dar-delta")!;

        fx.Server.Mutate("exportschedules", Ns, "dar", s => s["spec"]!["delta"]!["schedule"] = "not a cron");

        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "False", "Ready=False");
        Assert.Equal(before.ToJsonString(), fx.CronJob("dar-delta")!.ToJsonString());
        Assert.Equal(before.ToJsonString(), fx.CronJob("dar-delta")!.ToJsonString());
    }

    [Fact]
    public async Task A_missing_secret_sets_ready_false_and_a_later_secret_makes_it_ready()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.Server.Create("secrets", TestSchedules.Secret("s3-creds", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"));
        fx.CreateSchedule(TestSchedules.Sample());
        await using var op = await fx.StartOperator().StartedAsync();

        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "False", "Ready=False");
        Assert.Equal("SecretNotFound", OperatorFixture.Condition(fx.Schedule("dar"), "Ready", "reason"));
        Assert.Contains("dar-db", OperatorFixture.Condition(fx.Schedule("dar"), "Ready", "message"), StringComparison.Ordinal);
        Assert.Null(fx.CronJob("dar-total"));
        Assert.Contains(fx.Server.List("events", Ns), e => (string?)e["reason"] == "SecretNotFound");

        fx.Server.Create("secrets", TestSchedules.Secret("dar-db", "connectionString"));
        await op.Runtime.Controller.ReconcileAsync($"{Ns}/dar", CancellationToken.None);
        Assert.NotNull(fx.CronJob("dar-total"));
        var env = fx.CronJob("dar-total")!["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!.AsArray();
        Assert.Contains(env, e => (string?)e!["name"] == "BULKEXPORT_POSTGRES_CONNECTION" && (string?)e["valueFrom"]!["secretKeyRef"]!["name"] == "dar-db");
        Assert.Contains(env, e => (string?)e!["name"] == "AWS_SECRET_ACCESS_KEY" && (string?)e["valueFrom"]!["secretKeyRef"]!["key"] == "AWS_SECRET_ACCESS_KEY");
    }

    [Fact]
    public async Task A_signing_secret_is_checked_and_reaches_the_exporter_as_env_from_the_secret()
    {
        await using var fx = await OperatorFixture.StartAsync();
        var schedule = TestSchedules.Files("dar");
        schedule["spec"]!["signing"] = new JsonObject
        {
            ["secretRef"] = new JsonObject { ["name"] = "dar-signing", ["key"] = "signing.pem", ["nextPublicKeyKey"] = "next.pem" },
        };
        fx.Server.Create("secrets", TestSchedules.Secret("dar-signing", "signing.pem"));
        fx.CreateSchedule(schedule);
        await using var op = await fx.StartOperator().StartedAsync();

        // The rotation entry is missing: named, and nothing is written.
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "False", "Ready=False");
        Assert.Equal("SecretKeyNotFound", OperatorFixture.Condition(fx.Schedule("dar"), "Ready", "reason"));
        Assert.Contains("spec.signing.secretRef", OperatorFixture.Condition(fx.Schedule("dar"), "Ready", "message"), StringComparison.Ordinal);
        Assert.Contains("next.pem", OperatorFixture.Condition(fx.Schedule("dar"), "Ready", "message"), StringComparison.Ordinal);
        Assert.Null(fx.CronJob("dar-total"));

        fx.Server.Delete("secrets", Ns, "dar-signing");
        fx.Server.Create("secrets", TestSchedules.Secret("dar-signing", "signing.pem", "next.pem"));
        await op.Runtime.Controller.ReconcileAsync($"{Ns}/dar", CancellationToken.None);
        var env = fx.CronJob("dar-total")!["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!.AsArray();
        Assert.Contains(env, e => (string?)e!["name"] == "BULKEXPORT_SIGNING_KEY"
            && (string?)e["valueFrom"]!["secretKeyRef"]!["name"] == "dar-signing" && (string?)e["valueFrom"]!["secretKeyRef"]!["key"] == "signing.pem");
        Assert.Contains(env, e => (string?)e!["name"] == "BULKEXPORT_SIGNING_NEXT_PUBLIC_KEY"
            && (string?)e["valueFrom"]!["secretKeyRef"]!["key"] == "next.pem");
    }

    [Fact]
    public async Task Without_permission_to_read_secrets_the_existence_check_is_skipped()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.Server.Forbid("GET secrets");
        fx.CreateSchedule(TestSchedules.Sample());
        await using var op = await fx.StartOperator().StartedAsync();

        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True without the secret check",
            detail: () => $"status {fx.Schedule("dar")!["status"]?.ToJsonString()}, requests {string.Join(", ", fx.Server.Requests)}");
        await fx.Settle(op);
        Assert.True(fx.Server.Requests.GetValueOrDefault("GET secrets") >= 2);
        Assert.Equal("True", OperatorFixture.Condition(fx.Schedule("dar"), "Ready"));
    }

    [Fact]
    public async Task A_register_already_exported_to_the_same_storage_by_another_schedule_is_refused()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("first"));
        await Task.Delay(1100); // creationTimestamp has one-second resolution; "first" must be older.
        fx.CreateSchedule(TestSchedules.Files("second"));
        fx.CreateSchedule(TestSchedules.Files("elsewhere", storagePath: "/other"));
        await using var op = await fx.StartOperator().StartedAsync();

        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("second"), "Ready") == "False", "second Ready=False");
        Assert.Equal("RegisterConflict", OperatorFixture.Condition(fx.Schedule("second"), "Ready", "reason"));
        Assert.Null(fx.CronJob("second-total"));
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("first"), "Ready") == "True"
            && OperatorFixture.Condition(fx.Schedule("elsewhere"), "Ready") == "True", "first and elsewhere Ready");

        // When the holder goes away, the other schedule takes over.
        fx.Server.Delete("exportschedules", Ns, "first");
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("second"), "Ready") == "True", "second Ready=True after first deleted");
        Assert.NotNull(fx.CronJob("second-total"));
    }

    [Fact]
    public async Task A_finished_job_is_recorded_in_status_from_the_exporter_summary()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is not null && fx.CronJob("dar-total") is not null, "CronJobs");

        fx.FinishJob("dar", "total", "dar-total-29000000", succeeded: true, TestSchedules.SummaryJson(10, "total"), DateTimeOffset.UtcNow.AddMinutes(-2));
        fx.FinishJob("dar", "delta", "dar-delta-29000001", succeeded: true, TestSchedules.SummaryJson(11, "delta"), DateTimeOffset.UtcNow.AddMinutes(-1));

        await OperatorFixture.Eventually(() => (long?)fx.Schedule("dar")!["status"]?["lastGeneration"] == 11, "lastGeneration 11");
        var status = fx.Schedule("dar")!["status"]!;
        Assert.Equal(10, (long)status["lastTotal"]!["generation"]!);
        Assert.Equal("dar-total-29000000", (string?)status["lastTotal"]!["job"]);
        Assert.Equal(11, (long)status["lastDelta"]!["generation"]!);
        Assert.Equal(10, (long)status["lastDelta"]!["baseGeneration"]!);
        Assert.Equal(1000, (long)status["lastDelta"]!["records"]!);
        Assert.Equal("False", OperatorFixture.Condition(fx.Schedule("dar"), "LastRunFailed"));
        Assert.Equal("False", OperatorFixture.Condition(fx.Schedule("dar"), "Stale"));

        fx.FinishJob("dar", "delta", "dar-delta-29000002", succeeded: false, TestSchedules.SummaryJson(12, "delta", succeeded: false, error: "connection refused"));
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "LastRunFailed") == "True", "LastRunFailed=True");
        Assert.Equal("connection refused", (string?)fx.Schedule("dar")!["status"]!["lastFailure"]!["message"]);
        Assert.Equal(11, (long)fx.Schedule("dar")!["status"]!["lastGeneration"]!);
    }

    [Fact]
    public async Task Jobs_that_finish_while_the_operator_is_down_are_recorded_after_it_restarts()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        var first = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is not null, "CronJobs");
        fx.FinishJob("dar", "delta", "dar-delta-1", succeeded: true, TestSchedules.SummaryJson(5, "delta"), DateTimeOffset.UtcNow.AddMinutes(-3));
        await OperatorFixture.Eventually(() => (long?)fx.Schedule("dar")!["status"]?["lastGeneration"] == 5, "generation 5 recorded");
        await first.StopAsync();

        fx.FinishJob("dar", "delta", "dar-delta-2", succeeded: true, TestSchedules.SummaryJson(6, "delta"), DateTimeOffset.UtcNow.AddMinutes(-2));
        fx.FinishJob("dar", "total", "dar-total-3", succeeded: true, TestSchedules.SummaryJson(7, "total"), DateTimeOffset.UtcNow.AddMinutes(-1));
        Assert.Equal(5, (long)fx.Schedule("dar")!["status"]!["lastGeneration"]!);

        await using var second = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => (long?)fx.Schedule("dar")!["status"]?["lastGeneration"] == 7, "generations 6 and 7 recorded");
        // The total finished last and published a delta too, so it is also the last delta.
        Assert.Equal("dar-total-3", (string?)fx.Schedule("dar")!["status"]!["lastDelta"]!["job"]);
        Assert.Equal("dar-total-3", (string?)fx.Schedule("dar")!["status"]!["lastTotal"]!["job"]);
    }

    [Fact]
    public async Task A_storm_of_conflicts_is_ridden_out_by_re_reading()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True");
        await fx.Settle(op);

        fx.Server.InjectConflicts("cronjobs", 10);
        fx.Server.InjectConflicts("exportschedules", 10);
        fx.Server.Mutate("exportschedules", Ns, "dar", s => s["spec"]!["delta"]!["schedule"] = "15 2 * * *");

        await OperatorFixture.Eventually(() => (string?)fx.CronJob("dar-delta")!["spec"]!["schedule"] == "15 2 * * *", "update despite conflicts", TimeSpan.FromSeconds(30));
        await OperatorFixture.Eventually(() => (long?)fx.Schedule("dar")!["status"]!["observedGeneration"] == 2, "status despite conflicts", TimeSpan.FromSeconds(30));
        Assert.True(fx.Server.Requests.GetValueOrDefault("PUT cronjobs") >= 2);
    }

    [Fact]
    public async Task A_watch_that_gets_410_gone_re_lists_and_misses_nothing()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is not null, "CronJobs");
        await fx.Settle(op);

        // The history is compacted and the streams dropped: resuming from the old version must fail with 410.
        fx.Server.Compact();
        fx.Server.CloseWatches();
        fx.CreateSchedule(TestSchedules.Files("later", register: "BBR"));

        await OperatorFixture.Eventually(() => fx.CronJob("later-delta") is not null, "schedule created during the gap is reconciled");
        Assert.Contains(op.Runtime.Controller.Informers, i => i.Relists > 0);
    }

    [Fact]
    public async Task An_api_server_that_closes_streams_and_fails_requests_is_reconnected_to()
    {
        await using var fx = await OperatorFixture.StartAsync();
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => op.Runtime.Controller.Synced, "synced");

        for (var i = 0; i < 5; i++)
        {
            fx.Server.CloseWatches();
            await Task.Delay(50);
        }

        fx.Server.FailNextRequests(5);
        fx.CreateSchedule(TestSchedules.Files("dar"));

        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True after reconnects");
        await OperatorFixture.Eventually(() => fx.Server.OpenWatches >= 4, "watches re-established");
    }

    [Fact]
    public async Task Only_the_watched_namespaces_are_reconciled()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        fx.CreateSchedule(TestSchedules.Files("other", ns: "elsewhere"));
        await using var op = await fx.StartOperator(new OperatorOptions { Namespaces = [Ns], ExporterImage = "exporter:test" }).StartedAsync();

        await OperatorFixture.Eventually(() => fx.CronJob("dar-total") is not null, "watched namespace reconciled");
        await fx.Settle(op);
        Assert.Null(fx.CronJob("other-total", "elsewhere"));
    }
}

public sealed class ServerRewriteTests
{
    [Fact]
    public async Task Quantities_the_server_rewrites_do_not_cause_an_update_loop()
    {
        await using var fx = await OperatorFixture.StartAsync();
        var schedule = TestSchedules.Files("dar");
        schedule["spec"]!["exporter"] = new JsonObject { ["resources"] = new JsonObject { ["requests"] = new JsonObject { ["cpu"] = "0.5", ["memory"] = "512Mi" } } };
        fx.CreateSchedule(schedule);
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True");
        await fx.Settle(op);
        Assert.Equal("500m", (string?)fx.CronJob("dar-total")!["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!["containers"]![0]!["resources"]!["requests"]!["cpu"]);

        Assert.Equal(0, fx.Server.Requests.GetValueOrDefault("PUT cronjobs"));
        fx.Server.ResetCounters();
        await op.Runtime.Controller.ReconcileAsync($"{TestSchedules.Namespace}/dar", CancellationToken.None);
        Assert.Equal(0, fx.Server.WriteRequests);
    }

    [Fact]
    public async Task A_webhook_that_rewrites_an_owned_field_does_not_cause_an_update_loop()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.Server.Admission = (plural, obj) =>
        {
            if (plural == "cronjobs" && obj["spec"]?["jobTemplate"]?["spec"]?["template"]?["spec"]?["containers"]?[0] is JsonObject c)
            {
                c["image"] = "mirror.example/" + ((string?)c["image"])!.Replace("mirror.example/", "", StringComparison.Ordinal);
            }
        };
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True");
        await fx.Settle(op);

        Assert.Equal(0, fx.Server.Requests.GetValueOrDefault("PUT cronjobs"));

        // A real spec change is still applied (once), and the rewrite of it is tolerated again.
        fx.Server.Mutate("exportschedules", TestSchedules.Namespace, "dar", s => s["spec"]!["delta"]!["schedule"] = "0 4 * * *");
        await OperatorFixture.Eventually(() => (string?)fx.CronJob("dar-delta")!["spec"]!["schedule"] == "0 4 * * *", "spec change applied");
        await fx.Settle(op);
        Assert.Equal(1, fx.Server.Requests.GetValueOrDefault("PUT cronjobs"));
    }
}
