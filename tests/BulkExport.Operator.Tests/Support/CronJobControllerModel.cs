using System.Globalization;
using System.Text.Json.Nodes;
using BulkExport.Api;

namespace BulkExport.Operator.Tests.Support;

/// <summary>
/// The CronJob controller's decision for one sync (kube-controller-manager,
/// pkg/controller/cronjob: <c>mostRecentScheduleTime</c> and <c>syncCronJob</c>), so a test can
/// ask what a real cluster would do with a CronJob the operator wrote: a suspended CronJob starts
/// nothing; otherwise the latest start time after max(lastScheduleTime or creation,
/// now - startingDeadlineSeconds) and not after now starts a Job now.
/// </summary>
internal static class CronJobControllerModel
{
    /// <summary>The start time a Job would be created for at <paramref name="now"/>, or null when none would.</summary>
    public static DateTimeOffset? WouldStartAt(JsonObject cronJob, DateTimeOffset now)
    {
        var spec = cronJob["spec"]!;
        if ((bool?)spec["suspend"] == true)
        {
            return null;
        }

        Assert.True(Schedules.TryParseCron((string?)spec["schedule"], out var cron, out var error), error);
        Assert.True(Schedules.TryFindTimeZone((string?)spec["timeZone"] ?? "UTC", out var zone, out _));
        var anchor = Time(cronJob["status"]?["lastScheduleTime"]) ?? Time(cronJob["metadata"]?["creationTimestamp"])!.Value;
        var earliest = anchor;
        if (spec["startingDeadlineSeconds"] is { } deadline && now.AddSeconds(-(long)deadline) > earliest)
        {
            earliest = now.AddSeconds(-(long)deadline);
        }

        DateTimeOffset? latest = null;
        for (var t = earliest; cron!.Next(zone!, t, anchor) is { } next && next <= now; t = next)
        {
            latest = next;
        }

        return latest;
    }

    /// <summary>
    /// How many start times the controller counts as missed at <paramref name="now"/> (its
    /// numberOfMissedSchedules): those after max(lastScheduleTime or creation, now -
    /// startingDeadlineSeconds) and not after now. Past 100 it reports "too many missed start times".
    /// </summary>
    public static int MissedStartTimes(JsonObject cronJob, DateTimeOffset now)
    {
        var spec = cronJob["spec"]!;
        Assert.True(Schedules.TryParseCron((string?)spec["schedule"], out var cron, out var error), error);
        Assert.True(Schedules.TryFindTimeZone((string?)spec["timeZone"] ?? "UTC", out var zone, out _));
        var anchor = Time(cronJob["status"]?["lastScheduleTime"]) ?? Time(cronJob["metadata"]?["creationTimestamp"])!.Value;
        var earliest = spec["startingDeadlineSeconds"] is { } deadline && now.AddSeconds(-(long)deadline) > anchor ? now.AddSeconds(-(long)deadline) : anchor;
        var count = 0;
        for (var t = earliest; count <= 100_000 && cron!.Next(zone!, t, anchor) is { } next && next <= now; t = next)
        {
            count++;
        }

        return count;
    }

    private static DateTimeOffset? Time(JsonNode? node) =>
        (string?)node is { } s ? DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal) : null;
}
