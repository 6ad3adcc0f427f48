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

    [Fact]
    public async Task A_failed_job_seen_before_its_pod_gets_one_warning_event_with_the_exporters_error_not_the_jobs()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is not null, "CronJobs");
        await fx.Settle(op);

        // The Job and pod watches are separate streams: under load the Failed Job can arrive first
        // (the flake this reproduces: the event then said only "backoff limit").
        var at = DateTimeOffset.UtcNow.AddMinutes(-1);
        fx.FinishJob("dar", "delta", "dar-delta-1", succeeded: false, message: null, at, withPod: false);
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        fx.TerminatedPod("dar", "delta", "dar-delta-1", succeeded: false, TestSchedules.SummaryJson(1, "delta", succeeded: false, error: "timeout"), at);
        await OperatorFixture.Eventually(() => fx.Server.List("events", Ns).Any(e => (string?)e["reason"] == "RunFailed"), "RunFailed");
        await fx.Settle(op);

        var failed = Assert.Single(fx.Server.List("events", Ns), e => (string?)e["reason"] == "RunFailed");
        Assert.Contains("timeout", (string?)failed["message"], StringComparison.Ordinal);
        Assert.Contains("timeout", (string?)fx.Schedule("dar")!["status"]!["lastFailure"]!["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_job_whose_pod_never_comes_is_recorded_with_the_jobs_message_after_the_grace()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is not null, "CronJobs");
        await fx.Settle(op);

        fx.FinishJob("dar", "delta", "dar-delta-1", succeeded: false, message: null, DateTimeOffset.UtcNow.AddMinutes(-1), withPod: false);

        await OperatorFixture.Eventually(() => fx.Server.List("events", Ns).Any(e => (string?)e["reason"] == "RunFailed"), "RunFailed");
        Assert.Contains("backoff limit", (string?)fx.Schedule("dar")!["status"]!["lastFailure"]!["message"], StringComparison.Ordinal);
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

    [Theory]
    [InlineData("0 3 * * *", "UTC", 86_400)]
    [InlineData("*/15 * * * *", "UTC", 900)]
    [InlineData("0 3 * * 1-5", "UTC", 86_400)]
    [InlineData("@every 2m", "UTC", 120)]
    // Daylight saving: the day clocks go forward is 23 hours long.
    [InlineData("0 3 * * *", "Europe/Copenhagen", 82_800)]
    [InlineData("0 3 * * 6", "Europe/Copenhagen", 601_200)]
    public void Run_latest_sets_the_starting_deadline_to_the_shortest_gap_between_start_times_and_skip_to_a_minute_at_most(string cron, string zone, long gap)
    {
        Assert.Equal(gap, MissedRuns.StartingDeadlineSeconds(null, cron, zone));
        Assert.Equal(gap, MissedRuns.StartingDeadlineSeconds(MissedRunPolicy.RunLatest, cron, zone));
        Assert.Equal(Math.Min(60, gap), MissedRuns.StartingDeadlineSeconds(MissedRunPolicy.Skip, cron, zone));
    }

    /// <summary>A CronJob as the operator writes it for <paramref name="policy"/>, last started at <paramref name="lastStart"/>.</summary>
    private static JsonObject CronJobAfterOutage(string? policy, string deltaCron, DateTimeOffset lastStart)
    {
        var doc = TestSchedules.Files("dar");
        doc["spec"]!["timeZone"] = "UTC";
        doc["spec"]!["delta"]!["schedule"] = deltaCron;
        if (policy is not null)
        {
            doc["spec"]!["missedRuns"] = policy;
        }

        Assert.Empty(ScheduleValidator.Validate(doc));
        var cronJob = DesiredState.Build(ScheduleDocument.BindValidated(doc), "uid", "exporter:1").DeltaCronJob;
        cronJob["metadata"]!["creationTimestamp"] = "2026-01-01T00:00:00Z";
        cronJob["status"] = new JsonObject { ["lastScheduleTime"] = lastStart.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture) };
        return cronJob;
    }

    [Theory]
    [InlineData(null)]
    [InlineData(MissedRunPolicy.RunLatest)]
    public void Run_latest_starts_the_latest_run_missed_in_an_outage_once_late(string? policy)
    {
        // The controller was down from 02:00 on the 10th to 10:00 on the 13th: the daily 03:00 runs
        // of the 10th to the 13th were missed; the one of the 13th starts at 10:00, once.
        var cronJob = CronJobAfterOutage(policy, "0 3 * * *", new DateTimeOffset(2026, 3, 9, 3, 0, 0, TimeSpan.Zero));
        var recovered = new DateTimeOffset(2026, 3, 13, 10, 0, 0, TimeSpan.Zero);

        Assert.Equal(new DateTimeOffset(2026, 3, 13, 3, 0, 0, TimeSpan.Zero), CronJobControllerModel.WouldStartAt(cronJob, recovered));
        Assert.Equal(1, CronJobControllerModel.MissedStartTimes(cronJob, recovered));
    }

    [Fact]
    public void Run_latest_does_not_catch_up_a_run_older_than_the_schedules_shortest_interval()
    {
        // Weekdays at 03:00; the controller was down from Friday 02:00 to Monday 02:00. Friday's run,
        // 71 hours old by then, is not started late: Monday's is due within the hour.
        var cronJob = CronJobAfterOutage(MissedRunPolicy.RunLatest, "0 3 * * 1-5", new DateTimeOffset(2026, 3, 12, 3, 0, 0, TimeSpan.Zero));

        Assert.Null(CronJobControllerModel.WouldStartAt(cronJob, new DateTimeOffset(2026, 3, 16, 2, 0, 0, TimeSpan.Zero)));
        Assert.Equal(new DateTimeOffset(2026, 3, 16, 3, 0, 0, TimeSpan.Zero), CronJobControllerModel.WouldStartAt(cronJob, new DateTimeOffset(2026, 3, 16, 3, 0, 5, TimeSpan.Zero)));
    }

    [Fact]
    public void Skip_starts_no_run_missed_in_an_outage_and_the_next_one_on_time()
    {
        var cronJob = CronJobAfterOutage(MissedRunPolicy.Skip, "0 3 * * *", new DateTimeOffset(2026, 3, 9, 3, 0, 0, TimeSpan.Zero));

        Assert.Null(CronJobControllerModel.WouldStartAt(cronJob, new DateTimeOffset(2026, 3, 13, 10, 0, 0, TimeSpan.Zero)));
        // A controller a few seconds late still starts the run.
        Assert.Equal(new DateTimeOffset(2026, 3, 14, 3, 0, 0, TimeSpan.Zero), CronJobControllerModel.WouldStartAt(cronJob, new DateTimeOffset(2026, 3, 14, 3, 0, 30, TimeSpan.Zero)));
    }

    [Theory]
    [InlineData(MissedRunPolicy.RunLatest)]
    [InlineData(MissedRunPolicy.Skip)]
    public void A_schedule_every_minute_after_a_three_day_outage_sees_at_most_one_missed_start_time_never_too_many(string policy)
    {
        // The controller gives up a sync ("too many missed start times") past 100 in its window.
        var cronJob = CronJobAfterOutage(policy, "* * * * *", new DateTimeOffset(2026, 3, 10, 2, 0, 0, TimeSpan.Zero));
        var recovered = new DateTimeOffset(2026, 3, 13, 10, 0, 30, TimeSpan.Zero);

        Assert.Equal(1, CronJobControllerModel.MissedStartTimes(cronJob, recovered));
        Assert.Equal(new DateTimeOffset(2026, 3, 13, 10, 0, 0, TimeSpan.Zero), CronJobControllerModel.WouldStartAt(cronJob, recovered));
    }

    [Fact]
    public void An_unknown_missed_run_policy_or_one_beside_an_explicit_starting_deadline_is_refused_naming_spec_missed_runs()
    {
        var unknown = TestSchedules.Files("dar");
        unknown["spec"]!["missedRuns"] = "RunAll";
        var error = Assert.Single(ScheduleValidator.Validate(unknown));
        Assert.Equal("spec.missedRuns", error.Path);
        Assert.Contains("RunLatest, Skip", error.Message, StringComparison.Ordinal);

        var both = TestSchedules.Files("dar");
        both["spec"]!["missedRuns"] = MissedRunPolicy.Skip;
        both["spec"]!["jobs"] = new JsonObject { ["startingDeadlineSeconds"] = 3600 };
        error = Assert.Single(ScheduleValidator.Validate(both));
        Assert.Equal("spec.missedRuns", error.Path);
        Assert.Contains("spec.jobs.startingDeadlineSeconds", error.Message, StringComparison.Ordinal);

        // The explicit deadline alone still wins over the default policy.
        both["spec"]!.AsObject().Remove("missedRuns");
        Assert.Empty(ScheduleValidator.Validate(both));
        Assert.All(DesiredState.Build(ScheduleDocument.BindValidated(both), "uid", "exporter:1").CronJobs, c => Assert.Equal(3600, (long)c["spec"]!["startingDeadlineSeconds"]!));
    }
}
