using System.Collections.Concurrent;
using BulkExport.Api;

namespace BulkExport.Operator.Reconciling;

/// <summary>
/// spec.missedRuns as the CronJob controller understands it: its startingDeadlineSeconds. The
/// controller starts, after an outage, only the latest start time inside (now - deadline, now], and
/// counts "missed start times" only inside that window. A window no longer than the shortest gap
/// between two of the schedule's start times holds at most one, so there is never more than one
/// late run and never "too many missed start times", however long the outage. Resuming a suspended
/// schedule is held separately (the reconciler moves lastScheduleTime first), under both policies.
/// </summary>
internal static class MissedRuns
{
    /// <summary>Skip: a start the controller has not made within a minute (a brief controller hiccup still runs) is dropped.</summary>
    public const long SkipGraceSeconds = 60;

    /// <summary>Start times sampled for the shortest gap: a fixed instant, so the result is a pure function of the spec (render and reconcile agree).</summary>
    private static readonly DateTimeOffset Reference = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private const int SampledStarts = 1000;
    private static readonly TimeSpan SampledSpan = TimeSpan.FromDays(4 * 366);
    private static readonly ConcurrentDictionary<(string Cron, string TimeZone), long> Gaps = new();

    /// <summary>The CronJob's startingDeadlineSeconds for <paramref name="policy"/> (null means <see cref="MissedRunPolicy.RunLatest"/>).</summary>
    public static long StartingDeadlineSeconds(string? policy, string cron, string timeZone)
    {
        var gap = ShortestGapSeconds(cron, timeZone);
        return policy == MissedRunPolicy.Skip ? Math.Min(SkipGraceSeconds, gap) : gap;
    }

    /// <summary>
    /// The shortest time between two consecutive start times, in whole seconds, over the first
    /// 1,000 start times (or four years) after a fixed instant; it includes the daylight-saving
    /// changes of the time zone for schedules sparse enough to reach one. Cached: schedules share
    /// few distinct expressions, and a reconcile builds the CronJobs often.
    /// </summary>
    public static long ShortestGapSeconds(string cron, string timeZone)
    {
        if (Gaps.TryGetValue((cron, timeZone), out var cached))
        {
            return cached;
        }

        if (!Schedules.TryParseCron(cron, out var parsed, out var error) || !Schedules.TryFindTimeZone(timeZone, out var zone))
        {
            // Build runs on validated specs only.
            throw new InvalidOperationException($"schedule '{cron}' in '{timeZone}' is not valid: {error}");
        }

        var shortest = long.MaxValue;
        DateTimeOffset? previous = null;
        var t = Reference;
        for (var n = 0; n < SampledStarts && parsed!.Next(zone!, t, Reference) is { } next && next - Reference <= SampledSpan; n++, t = next)
        {
            if (previous is { } p)
            {
                shortest = Math.Min(shortest, (long)(next - p).TotalSeconds);
            }

            previous = next;
        }

        // Fewer than two start times in four years (a 29 February schedule): one a year is a safe bound.
        var gap = shortest == long.MaxValue ? (long)TimeSpan.FromDays(365).TotalSeconds : Math.Max(1, shortest);
        if (Gaps.Count > 4096)
        {
            Gaps.Clear();
        }

        Gaps[(cron, timeZone)] = gap;
        return gap;
    }
}
