using BulkExport.Api;
using BulkExport.Operator.Reconciling;
using BulkExport.Operator.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace BulkExport.Operator.Tests.Reconciling;

public sealed class StatusBuilderTests
{
    private static readonly DateTimeOffset Created = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly Readiness Ok = new(true, "Reconciled", "ok");

    private static ExportSchedule Schedule(bool suspend = false)
    {
        var s = ScheduleDocument.FromJson(TestSchedules.Files("dar"));
        s.Spec.Suspend = suspend;
        return s;
    }

    private static FinishedJob Delta(string name, long generation, DateTimeOffset at) =>
        new(name, "delta", true, at, new RunSummary { Generation = generation, BaseGeneration = generation - 1, Files = 1, Records = 2, Bytes = 3, PrunedFiles = 4 }, null);

    private static string? Condition(ExportScheduleStatus s, string type, bool reason = false) =>
        s.Conditions.FirstOrDefault(c => c.Type == type) is { } c ? (reason ? c.Reason : c.Status) : null;

    [Fact]
    public void Next_run_times_are_computed_in_the_schedules_time_zone()
    {
        // 02:30 UTC on a Sunday in November is 03:30 in Copenhagen: today's 03:00 delta has passed.
        var now = new DateTimeOffset(2026, 11, 22, 2, 30, 0, TimeSpan.Zero);

        var status = StatusBuilder.Build(null, 1, Schedule(), Ok, [], now, Created);

        Assert.Equal(new DateTimeOffset(2026, 11, 23, 2, 0, 0, TimeSpan.Zero), status.NextDeltaTime);
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 2, 0, 0, TimeSpan.Zero), status.NextTotalTime);
    }

    [Fact]
    public void Stale_turns_true_when_no_delta_succeeded_within_two_delta_periods()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 10, 12, 0, 0, TimeSpan.Zero));
        var lastRun = time.GetUtcNow().AddHours(-1);
        var status = StatusBuilder.Build(null, 1, Schedule(), Ok, [Delta("d1", 7, lastRun)], time.GetUtcNow(), Created);
        Assert.Equal("False", Condition(status, ConditionTypes.Stale));

        time.Advance(TimeSpan.FromHours(47));
        status = StatusBuilder.Build(status, 1, Schedule(), Ok, [], time.GetUtcNow(), Created);
        Assert.Equal("False", Condition(status, ConditionTypes.Stale));

        time.Advance(TimeSpan.FromHours(2));
        status = StatusBuilder.Build(status, 1, Schedule(), Ok, [], time.GetUtcNow(), Created);
        Assert.Equal("True", Condition(status, ConditionTypes.Stale));
        Assert.Equal("NoRecentDelta", Condition(status, ConditionTypes.Stale, reason: true));
        Assert.Equal(StatusBuilder.Seconds(time.GetUtcNow()), status.Conditions.Single(c => c.Type == ConditionTypes.Stale).LastTransitionTime);
    }

    [Fact]
    public void A_suspended_schedule_is_not_stale_and_has_no_next_run()
    {
        var status = StatusBuilder.Build(null, 1, Schedule(suspend: true), Ok, [], Created.AddDays(30), Created);

        Assert.Equal("False", Condition(status, ConditionTypes.Stale));
        Assert.Null(status.NextDeltaTime);
    }

    [Fact]
    public void Recording_the_same_job_twice_changes_nothing_and_an_older_job_does_not_replace_a_newer_one()
    {
        var now = Created.AddDays(1);
        var first = StatusBuilder.Build(null, 1, Schedule(), Ok, [Delta("d2", 8, now.AddMinutes(-5))], now, Created);
        var again = StatusBuilder.Build(first, 1, Schedule(), Ok, [Delta("d2", 8, now.AddMinutes(-5)), Delta("d1", 7, now.AddMinutes(-60))], now, Created);

        Assert.Equal(8, again.LastDelta!.Generation);
        Assert.Equal("d2", again.LastDelta.Job);
        Assert.Equal(
            System.Text.Json.JsonSerializer.Serialize(first, ScheduleDocument.JsonOptions),
            System.Text.Json.JsonSerializer.Serialize(again, ScheduleDocument.JsonOptions));
    }

    [Fact]
    public void A_failure_after_the_last_success_sets_last_run_failed_and_a_later_success_clears_it()
    {
        var now = Created.AddDays(1);
        var failed = new FinishedJob("d3", "delta", false, now.AddMinutes(-1), null, "BackoffLimitExceeded: Job has reached the specified backoff limit");
        var status = StatusBuilder.Build(null, 1, Schedule(), Ok, [Delta("d2", 8, now.AddMinutes(-5)), failed], now, Created);

        Assert.Equal("True", Condition(status, ConditionTypes.LastRunFailed));
        Assert.Equal("d3", status.LastFailure!.Job);
        Assert.Contains("BackoffLimitExceeded", status.LastFailure.Message, StringComparison.Ordinal);

        status = StatusBuilder.Build(status, 1, Schedule(), Ok, [Delta("d4", 9, now.AddMinutes(10))], now.AddMinutes(11), Created);
        Assert.Equal("False", Condition(status, ConditionTypes.LastRunFailed));
        Assert.Equal(9, status.LastGeneration);
        Assert.Equal(4, status.Retention!.DeletedFiles);
    }

    [Fact]
    public void A_failure_recorded_from_the_job_before_its_pod_summary_arrived_takes_the_exporters_error_when_it_does()
    {
        // The pod and Job watches deliver in either order: the Job's condition first, the summary later.
        var now = Created.AddDays(1);
        var at = now.AddMinutes(-1);
        var fromJob = new FinishedJob("d3", "delta", false, at, null, "BackoffLimitExceeded: Job has reached the specified backoff limit");
        var status = StatusBuilder.Build(null, 1, Schedule(), Ok, [fromJob], now, Created);
        Assert.Contains("BackoffLimitExceeded", status.LastFailure!.Message, StringComparison.Ordinal);

        var summary = new RunSummary { Outcome = "Failed", Error = "connection refused" };
        status = StatusBuilder.Build(status, 1, Schedule(), Ok, [fromJob with { Summary = summary }], now, Created);

        Assert.Equal("d3", status.LastFailure!.Job);
        Assert.Equal("connection refused", status.LastFailure.Message);
        Assert.Equal(StatusBuilder.Seconds(at), status.LastFailure.Time);
    }

    [Fact]
    public void Ready_false_keeps_the_run_history_and_reports_the_reason()
    {
        var now = Created.AddDays(1);
        var status = StatusBuilder.Build(null, 1, Schedule(), Ok, [Delta("d2", 8, now.AddMinutes(-5))], now, Created);

        status = StatusBuilder.Build(status, 2, null, new Readiness(false, "InvalidSchedule", "spec.delta.schedule: bad"), [], now, Created);

        Assert.Equal("False", Condition(status, ConditionTypes.Ready));
        Assert.Equal("InvalidSchedule", Condition(status, ConditionTypes.Ready, reason: true));
        Assert.Equal(2, status.ObservedGeneration);
        Assert.Equal(8, status.LastDelta!.Generation);
    }
}
