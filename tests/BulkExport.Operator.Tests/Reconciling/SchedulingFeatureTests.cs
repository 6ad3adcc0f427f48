using System.Text.Json.Nodes;
using BulkExport.Api;
using BulkExport.Operator.Reconciling;
using BulkExport.Operator.Tests.Support;

namespace BulkExport.Operator.Tests.Reconciling;

/// <summary>What users of scheduled-job operators ask for: run now, a missed-run policy, Events on failure and recovery.</summary>
public sealed class SchedulingFeatureTests
{
    private const string Ns = TestSchedules.Namespace;

    private static void Annotate(OperatorFixture fx, string value) =>
        fx.Server.Mutate("exportschedules", Ns, "dar", s =>
        {
            var meta = s["metadata"]!.AsObject();
            var annotations = meta["annotations"] as JsonObject ?? [];
            annotations[Labels.RunNow] = value;
            meta["annotations"] = annotations;
        });

    [Fact]
    public async Task The_run_now_annotation_starts_one_job_per_nonce_from_the_cron_job_marked_as_kubectl_create_job_from_marks_it()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True");
        await fx.Settle(op);

        Annotate(fx, "delta:first");
        await OperatorFixture.Eventually(() => fx.Server.List("jobs", Ns).Count == 1, "one Job");
        await OperatorFixture.Eventually(() => (string?)fx.Schedule("dar")!["status"]?["lastRunNow"] == "delta:first", "recorded in status");
        op.Runtime.Controller.ResyncNow();
        await fx.Settle(op);

        var job = Assert.Single(fx.Server.List("jobs", Ns));
        var cronJob = fx.CronJob("dar-delta")!;
        Assert.Equal("manual", (string?)job["metadata"]!["annotations"]![Labels.Instantiate]);
        Assert.Equal(cronJob["metadata"]!["uid"]!.ToString(), (string?)job["metadata"]!["ownerReferences"]![0]!["uid"]);
        Assert.Equal("delta", (string?)job["metadata"]!["labels"]![Labels.Type]);
        Assert.Equal(cronJob["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!["containers"]!.ToJsonString(), job["spec"]!["template"]!["spec"]!["containers"]!.ToJsonString());
        Assert.Contains(fx.Server.List("events", Ns), e => (string?)e["reason"] == "RunNow" && (string?)e["type"] == "Normal");

        Annotate(fx, "total:second");
        await OperatorFixture.Eventually(() => fx.Server.List("jobs", Ns).Count == 2, "a second Job for a new nonce");
        Assert.Contains(fx.Server.List("jobs", Ns), j => (string?)j["metadata"]!["labels"]![Labels.Type] == "total");
    }

    [Fact]
    public async Task A_run_now_value_without_a_type_and_nonce_is_refused_with_a_warning_and_starts_nothing()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True", "Ready=True");

        Annotate(fx, "now");

        await OperatorFixture.Eventually(() => fx.Server.List("events", Ns).Any(e => (string?)e["reason"] == "InvalidRunNow"), "InvalidRunNow event");
        await fx.Settle(op);
        Assert.Empty(fx.Server.List("jobs", Ns));
    }

    [Fact]
    public async Task Every_failed_run_gets_a_warning_event_and_the_next_success_a_recovery_event()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is not null, "CronJobs");

        fx.FinishJob("dar", "delta", "dar-delta-1", succeeded: false, TestSchedules.SummaryJson(1, "delta", succeeded: false, error: "connection refused"), DateTimeOffset.UtcNow.AddMinutes(-3));
        await OperatorFixture.Eventually(() => fx.Server.List("events", Ns).Count(e => (string?)e["reason"] == "RunFailed") == 1, "first RunFailed");
        fx.FinishJob("dar", "delta", "dar-delta-2", succeeded: false, TestSchedules.SummaryJson(1, "delta", succeeded: false, error: "timeout"), DateTimeOffset.UtcNow.AddMinutes(-2));
        await OperatorFixture.Eventually(() => fx.Server.List("events", Ns).Count(e => (string?)e["reason"] == "RunFailed") == 2, "second RunFailed");
        fx.FinishJob("dar", "delta", "dar-delta-3", succeeded: true, TestSchedules.SummaryJson(1, "delta"), DateTimeOffset.UtcNow.AddMinutes(-1));
        await OperatorFixture.Eventually(() => fx.Server.List("events", Ns).Any(e => (string?)e["reason"] == "RunRecovered"), "RunRecovered");
        await fx.Settle(op);

        var events = fx.Server.List("events", Ns);
        Assert.Contains(events, e => (string?)e["reason"] == "RunFailed" && ((string?)e["message"])!.Contains("timeout", StringComparison.Ordinal));
        Assert.Equal("Normal", (string?)events.Single(e => (string?)e["reason"] == "RunRecovered")["type"]);
    }

    [Theory]
    [InlineData("* * * * *")]
    [InlineData("@every 2m")]
    public async Task Resuming_a_suspended_schedule_starts_no_run_at_once_though_runs_were_missed_inside_the_starting_deadline(string deltaSchedule)
    {
        await using var fx = await OperatorFixture.StartAsync();
        var schedule = TestSchedules.Files("dar");
        schedule["spec"]!["suspend"] = true;
        schedule["spec"]!["delta"]!["schedule"] = deltaSchedule;
        fx.CreateSchedule(schedule);
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => (bool?)fx.CronJob("dar-delta")?["spec"]?["suspend"] == true, "a suspended delta CronJob");
        // Its last run was ten minutes ago, before the suspend: every start time since is missed, and
        // the latest ones lie inside the 300 s starting deadline.
        fx.Server.Mutate("cronjobs", Ns, "dar-delta", c => c["status"] = new JsonObject
        {
            ["lastScheduleTime"] = DateTimeOffset.UtcNow.AddMinutes(-10).ToString("yyyy-MM-dd'T'HH:mm:00'Z'", System.Globalization.CultureInfo.InvariantCulture),
        }, status: true);
        var suspended = fx.CronJob("dar-delta")!;
        Assert.Null(CronJobControllerModel.WouldStartAt(suspended, DateTimeOffset.UtcNow));
        var unsuspended = (JsonObject)suspended.DeepClone();
        unsuspended["spec"]!["suspend"] = false;
        Assert.NotNull(CronJobControllerModel.WouldStartAt(unsuspended, DateTimeOffset.UtcNow));

        // The controller decides at the moment suspend flips; any instant from the edit to the flip
        // stands for it (a later one could already be a new, not a missed, start time).
        var now = DateTimeOffset.UtcNow;
        fx.Server.Mutate("exportschedules", Ns, "dar", s => s["spec"]!["suspend"] = false);
        await OperatorFixture.Eventually(() => (bool?)fx.CronJob("dar-delta")?["spec"]?["suspend"] == false, "the delta CronJob resumed");
        // Status follows the CronJob writes in the same reconcile.
        await OperatorFixture.Eventually(() => fx.Schedule("dar")?["status"]?["nextDeltaTime"] is not null, "status.nextDeltaTime after the resume");

        var resumed = fx.CronJob("dar-delta")!;
        Assert.Null(CronJobControllerModel.WouldStartAt(resumed, now));
        // Nothing is skipped beyond the missed runs: the next start time still starts a Job.
        var next = DateTimeOffset.Parse((string)fx.Schedule("dar")!["status"]!["nextDeltaTime"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(next > now.AddSeconds(-1) && next <= now.AddMinutes(2).AddSeconds(10), $"next delta {next:O}");
        Assert.Equal(next, CronJobControllerModel.WouldStartAt(resumed, next.AddSeconds(1)));
    }

    [Fact]
    public void Cron_jobs_get_a_starting_deadline_so_missed_runs_give_at_most_one_catch_up_and_never_too_many_missed_start_times()
    {
        var schedule = ScheduleDocument.FromJson(TestSchedules.Files("dar"));
        var desired = DesiredState.Build(schedule, "uid", "exporter:1");

        foreach (var cronJob in desired.CronJobs)
        {
            Assert.Equal(DesiredState.DefaultStartingDeadlineSeconds, (long)cronJob["spec"]!["startingDeadlineSeconds"]!);
        }

        // The window is far shorter than the 100 missed start times after which the controller gives up,
        // even for a schedule that runs every minute.
        Assert.True(DesiredState.DefaultStartingDeadlineSeconds / 60 < 100);
    }
}
