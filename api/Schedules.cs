using NCrontab;

namespace BulkExport.Api;

/// <summary>Cron and time-zone handling shared by validation, the operator's next-run times and the exporter.</summary>
public static class Schedules
{
    public static bool TryParseCron(string? text, out CrontabSchedule? schedule, out string? error)
    {
        schedule = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "required";
            return false;
        }

        var fields = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
        {
            error = $"must be a five-field cron expression (minute hour day-of-month month day-of-week), got {fields.Length} fields";
            return false;
        }

        // Kubernetes CronJobs reject these; users see the same rule here before the API server would.
        if (text.Contains("TZ=", StringComparison.Ordinal) || text.Contains("CRON_TZ=", StringComparison.Ordinal))
        {
            error = "must not set a time zone inline; use spec.timeZone";
            return false;
        }

        schedule = CrontabSchedule.TryParse(text, new CrontabSchedule.ParseOptions { IncludingSeconds = false });
        if (schedule is null)
        {
            error = $"'{text}' is not a valid cron expression";
            return false;
        }

        return true;
    }

    public static bool TryFindTimeZone(string? id, out TimeZoneInfo? zone)
    {
        zone = null;
        if (string.IsNullOrWhiteSpace(id))
        {
            return false;
        }

        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            return true;
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            return false;
        }
    }

    /// <summary>The next occurrence after <paramref name="after"/>, evaluated in the wall-clock time of <paramref name="zone"/>.</summary>
    public static DateTimeOffset? NextOccurrence(CrontabSchedule schedule, TimeZoneInfo zone, DateTimeOffset after)
    {
        var local = TimeZoneInfo.ConvertTime(after, zone).DateTime;
        // Search a little past a year; NCrontab returns the end bound when nothing matches (e.g. 30 Feb).
        var end = local.AddYears(5);
        var next = schedule.GetNextOccurrence(local, end);
        while (next < end)
        {
            // Wall-clock times skipped by a DST jump do not exist; cron implementations skip them too.
            if (!zone.IsInvalidTime(next))
            {
                var offset = zone.GetUtcOffset(next);
                return new DateTimeOffset(next, offset).ToUniversalTime();
            }

            next = schedule.GetNextOccurrence(next, end);
        }

        return null;
    }
}
