using BulkExport.Api;

namespace BulkExport.Operator.Reconciling;

/// <summary>A Job of one of the schedule's CronJobs that has finished, with the exporter's summary when it could be read.</summary>
internal sealed record FinishedJob(string Name, string Type, bool Succeeded, DateTimeOffset FinishedAt, RunSummary? Summary, string? FailureMessage);

/// <summary>Where each CronJob's <c>@every</c> count starts: its status.lastScheduleTime, else its creationTimestamp.</summary>
internal sealed record CronAnchors(DateTimeOffset? Total, DateTimeOffset? Delta);

/// <summary>What reconciling concluded about the spec: the Ready condition.</summary>
internal sealed record Readiness(bool Ready, string Reason, string Message);

internal static class ConditionTypes
{
    public const string Ready = "Ready";
    public const string LastRunFailed = "LastRunFailed";
    public const string Stale = "Stale";
}

/// <summary>
/// Computes the next status from the current one and what the cluster shows. A pure function: the
/// status is derived from finished Jobs every time, so an operator restart (or a missed watch event)
/// records whatever finished in between, and recording the same Job twice changes nothing.
/// </summary>
internal static class StatusBuilder
{
    public static ExportScheduleStatus Build(
        ExportScheduleStatus? current, long generation, ExportSchedule? validSpec, Readiness readiness,
        IEnumerable<FinishedJob> jobs, DateTimeOffset now, DateTimeOffset? createdAt, CronAnchors? anchors = null)
    {
        var status = Clone(current);
        status.ObservedGeneration = generation;

        foreach (var job in jobs.OrderBy(j => j.FinishedAt))
        {
            var finished = Seconds(job.FinishedAt);
            if (job.Succeeded)
            {
                var previous = job.Type == Labels.Total ? status.LastTotal : status.LastDelta;
                if (job.Summary is not { Generation: { } gen } summary || (previous is not null && (previous.Job == job.Name || previous.CompletionTime >= finished)))
                {
                    continue;
                }

                var run = new RunStatus
                {
                    Generation = gen,
                    BaseGeneration = summary.BaseGeneration,
                    PointInTime = Seconds(summary.PointInTime ?? job.FinishedAt),
                    CompletionTime = finished,
                    Files = summary.Files,
                    Records = summary.Records,
                    Bytes = summary.Bytes,
                    Job = job.Name,
                };
                if (job.Type == Labels.Total)
                {
                    status.LastTotal = run;
                    // A total publishes a delta too (every generation does), so it is the last delta as well.
                    if (status.LastDelta is null || status.LastDelta.CompletionTime < finished)
                    {
                        status.LastDelta = run;
                    }
                }
                else
                {
                    status.LastDelta = run;
                }

                status.LastGeneration = Math.Max(status.LastGeneration ?? 0, gen);
                status.Retention = new RetentionStatus { LastRunTime = finished, DeletedFiles = summary.PrunedFiles, DeletedBytes = summary.PrunedBytes };
            }
            // The same Job again once its pod's summary is known: the pod and Job watches deliver in
            // either order, and the exporter's own error says more than the Job's condition.
            else if (status.LastFailure is null || (status.LastFailure.Job != job.Name && status.LastFailure.Time < finished)
                || (status.LastFailure.Job == job.Name && job.Summary?.Error is { } error && status.LastFailure.Message != Truncate(error)))
            {
                status.LastFailure = new FailureStatus
                {
                    Time = finished,
                    Job = job.Name,
                    Message = Truncate(job.Summary?.Error ?? job.FailureMessage ?? "the exporter Job failed"),
                };
            }
        }

        SetCondition(status, ConditionTypes.Ready, readiness.Ready, readiness.Reason, readiness.Message, generation, now);

        var lastSuccess = Max(status.LastTotal?.CompletionTime, status.LastDelta?.CompletionTime);
        if (status.LastFailure is { } failure && (lastSuccess is null || failure.Time > lastSuccess))
        {
            SetCondition(status, ConditionTypes.LastRunFailed, true, "JobFailed", $"Job {failure.Job} failed: {failure.Message}", generation, now);
        }
        else
        {
            SetCondition(status, ConditionTypes.LastRunFailed, false, lastSuccess is null ? "NoRunsYet" : "LastRunSucceeded",
                lastSuccess is null ? "no export Job has finished yet" : $"the last export Job succeeded at {lastSuccess:O}", generation, now);
        }

        if (validSpec is not null
            && Schedules.TryParseCron(validSpec.Spec.Total.Schedule, out var totalCron, out _)
            && Schedules.TryParseCron(validSpec.Spec.Delta.Schedule, out var deltaCron, out _)
            && Schedules.TryFindTimeZone(validSpec.Spec.TimeZone, out var zone))
        {
            // An @every schedule counts from its CronJob's last schedule time (or creation), as the
            // CronJob controller does; before the CronJob exists, from the schedule's creation.
            var totalFrom = anchors?.Total ?? createdAt ?? now;
            var deltaFrom = anchors?.Delta ?? createdAt ?? now;
            status.NextTotalTime = validSpec.Spec.Suspend ? null : Schedules.NextOccurrence(totalCron!, zone!, now, totalFrom) is { } t ? Seconds(t) : null;
            status.NextDeltaTime = validSpec.Spec.Suspend ? null : Schedules.NextOccurrence(deltaCron!, zone!, now, deltaFrom) is { } d ? Seconds(d) : null;
            status.NextRunTime = Min(status.NextTotalTime, status.NextDeltaTime);
            var (stale, reason, message) = Staleness(validSpec, deltaCron!, zone!, lastSuccess, now, createdAt);
            SetCondition(status, ConditionTypes.Stale, stale, reason, message, generation, now);
        }

        return status;
    }

    /// <summary>The delta period: the gap between the next two delta runs.</summary>
    public static TimeSpan? DeltaPeriod(KubeCron cron, TimeZoneInfo zone, DateTimeOffset now)
    {
        var first = Schedules.NextOccurrence(cron, zone, now);
        var second = first is null ? null : Schedules.NextOccurrence(cron, zone, first.Value);
        return second - first;
    }

    private static (bool Stale, string Reason, string Message) Staleness(
        ExportSchedule schedule, KubeCron deltaCron, TimeZoneInfo zone, DateTimeOffset? lastSuccess, DateTimeOffset now, DateTimeOffset? createdAt)
    {
        if (schedule.Spec.Suspend)
        {
            return (false, "Suspended", "the schedule is suspended");
        }

        if (DeltaPeriod(deltaCron, zone, now) is not { } period)
        {
            return (false, "NoDeltaPeriod", "the delta schedule has no upcoming runs");
        }

        // Every generation, total or delta, publishes a delta for every entity.
        var since = lastSuccess ?? createdAt ?? now;
        var limit = period * 2;
        return now - since > limit
            ? (true, "NoRecentDelta", $"no delta has succeeded since {since:O}; expected at least every {period} (stale after {limit})")
            : (false, lastSuccess is null ? "Waiting" : "DeltaRecent", lastSuccess is null
                ? $"no delta yet; stale if none succeeds by {since + limit:O}"
                : $"the last export succeeded at {lastSuccess:O}");
    }

    /// <summary>When Stale would flip to True if nothing succeeds, so the controller can look again then.</summary>
    public static DateTimeOffset? StaleDeadline(ExportSchedule schedule, ExportScheduleStatus status, DateTimeOffset now, DateTimeOffset? createdAt)
    {
        if (!Schedules.TryParseCron(schedule.Spec.Delta.Schedule, out var cron, out _) || !Schedules.TryFindTimeZone(schedule.Spec.TimeZone, out var zone)
            || DeltaPeriod(cron!, zone!, now) is not { } period)
        {
            return null;
        }

        var since = Max(status.LastTotal?.CompletionTime, status.LastDelta?.CompletionTime) ?? createdAt ?? now;
        return since + (period * 2);
    }

    private static void SetCondition(ExportScheduleStatus status, string type, bool value, string reason, string message, long generation, DateTimeOffset now)
    {
        var text = value ? "True" : "False";
        var existing = status.Conditions.FirstOrDefault(c => c.Type == type);
        if (existing is null)
        {
            existing = new Condition { Type = type };
            status.Conditions.Add(existing);
        }

        if (existing.Status != text)
        {
            existing.LastTransitionTime = Seconds(now);
        }

        existing.Status = text;
        existing.Reason = reason;
        existing.Message = Truncate(message);
        existing.ObservedGeneration = generation;
        status.Conditions.Sort((a, b) => Order(a.Type).CompareTo(Order(b.Type)));
    }

    private static int Order(string type) => type switch
    {
        ConditionTypes.Ready => 0,
        ConditionTypes.LastRunFailed => 1,
        ConditionTypes.Stale => 2,
        _ => 3,
    };

    private static ExportScheduleStatus Clone(ExportScheduleStatus? status) =>
        status is null
            ? new ExportScheduleStatus()
            : System.Text.Json.JsonSerializer.Deserialize<ExportScheduleStatus>(
                System.Text.Json.JsonSerializer.Serialize(status, ScheduleDocument.JsonOptions), ScheduleDocument.JsonOptions)!;

    private static DateTimeOffset? Min(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;

    private static DateTimeOffset? Max(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

    public static DateTimeOffset Seconds(DateTimeOffset t) => new(t.UtcTicks - (t.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);

    internal static string Truncate(string text) => text.Length <= 1024 ? text : text[..1021] + "...";
}
