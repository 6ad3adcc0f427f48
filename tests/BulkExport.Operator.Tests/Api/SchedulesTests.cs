using System.Globalization;
using BulkExport.Api;

namespace BulkExport.Operator.Tests.Api;

/// <summary>
/// The Kubernetes CronJob dialect (robfig/cron v3 ParseStandard, as the API server validates and
/// the CronJob controller schedules) and the API server's spec.timeZone rules. Expected verdicts and
/// times follow robfig's parser (getRange) and Next (dayMatches ORs day-of-month and day-of-week
/// when neither starts with * or ?).
/// </summary>
public sealed class SchedulesTests
{
    [Theory]
    [InlineData("0 0 * * 7", "end of range (7) above maximum (6)")]
    [InlineData("0 0 L * *", "failed to parse int from L")]
    [InlineData("0 0 15W * *", "failed to parse int from 15W")]
    [InlineData("0 0 * * 5#3", "failed to parse int from 5#3")]
    [InlineData("0 0 * * 5L", "failed to parse int from 5L")]
    [InlineData("*/0 * * * *", "step of range should be a positive number")]
    [InlineData("5-1 * * * *", "beginning of range (5) beyond end of range (1)")]
    [InlineData("60 * * * *", "end of range (60) above maximum (59)")]
    [InlineData("0 24 * * *", "end of range (24) above maximum (23)")]
    [InlineData("0 0 0 * *", "beginning of range (0) below minimum (1)")]
    [InlineData("0 0 * 13 *", "end of range (13) above maximum (12)")]
    [InlineData("0 0 0 * * *", "five fields")]
    [InlineData("0 0 * *", "five fields")]
    [InlineData("1-2-3 * * * *", "too many hyphens")]
    [InlineData("*/2/3 * * * *", "too many slashes")]
    [InlineData("TZ=UTC 0 0 * * *", "TZ or CRON_TZ")]
    [InlineData("CRON_TZ=Europe/Paris 0 0 * * *", "TZ or CRON_TZ")]
    [InlineData("@reboot", "unrecognized descriptor")]
    [InlineData("@every_minute", "unrecognized descriptor")]
    [InlineData("@every", "unrecognized descriptor")]
    [InlineData("@every 1", "time: missing unit in duration \"1\"")]
    [InlineData("@every 1x", "time: unknown unit \"x\" in duration \"1x\"")]
    [InlineData("@every  1h", "time: invalid duration \" 1h\"")]
    [InlineData("@every 1h ", "time: unknown unit \"h \" in duration \"1h \"")]
    [InlineData("@every .h", "time: invalid duration \".h\"")]
    [InlineData("@every 99999999999h", "time: invalid duration")]
    [InlineData("0 0 * * FOO", "failed to parse int from FOO")]
    public void Expressions_the_CronJob_validation_rejects_are_rejected_with_its_reason(string expression, string reason)
    {
        Assert.False(Schedules.TryParseCron(expression, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("? * * * *")]
    [InlineData("0 0 ? * MON")]
    [InlineData("+5 * * * *")]
    [InlineData("0 0 * jan-MAR sun,sat")]
    [InlineData("0 0 30 2 *")]
    [InlineData("  0   3 * * *  ")]
    [InlineData("@hourly")]
    [InlineData("@annually")]
    [InlineData("@midnight")]
    [InlineData("@every 1h")]
    [InlineData("@every 1h30m")]
    [InlineData("@every 1.5h")]
    [InlineData("@every 0")]
    [InlineData("@every -5m")]
    [InlineData("@every 500ms")]
    [InlineData("@every 2\u00b5s")]
    public void Expressions_the_CronJob_validation_accepts_are_accepted(string expression)
    {
        Assert.True(Schedules.TryParseCron(expression, out var cron, out var error), error);
        Assert.NotNull(cron);
    }

    [Theory]
    // Both day fields restricted: Fridays OR the 13th (Cronos alone would want Friday the 13th).
    [InlineData("0 0 13 * 5", "UTC", "2026-11-01T00:00:00Z", "2026-11-06T00:00:00Z")]
    [InlineData("0 0 13 * 5", "UTC", "2026-11-06T00:00:00Z", "2026-11-13T00:00:00Z")]
    [InlineData("0 0 13 * 0", "UTC", "2026-11-13T00:00:00Z", "2026-11-15T00:00:00Z")]
    // */2 restricts (robfig clears the star bit for steps above 1): odd days OR Mondays.
    [InlineData("0 0 */2 * 1", "UTC", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")]
    [InlineData("0 0 */2 * 1", "UTC", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z")]
    // * or ? in day-of-month: day-of-week alone decides.
    [InlineData("0 0 * * 1", "UTC", "2026-11-02T00:00:00Z", "2026-11-09T00:00:00Z")]
    [InlineData("0 0 ? * 1", "UTC", "2026-11-02T00:00:00Z", "2026-11-09T00:00:00Z")]
    // 1-31 is a restriction that matches every day: OR with Mondays is every day.
    [InlineData("0 0 1-31 * 1", "UTC", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z")]
    [InlineData("5/15 * * * *", "UTC", "2026-11-01T00:06:00Z", "2026-11-01T00:20:00Z")]
    [InlineData("0 0 * * sun", "UTC", "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z")]
    [InlineData("@monthly", "UTC", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")]
    [InlineData("@weekly", "UTC", "2026-11-04T10:00:00Z", "2026-11-08T00:00:00Z")]
    [InlineData("0 3 * * *", "Europe/Copenhagen", "2026-11-01T12:00:00Z", "2026-11-02T02:00:00Z")]
    [InlineData("0 9 * * MON-FRI", "America/New_York", "2026-11-06T15:00:00Z", "2026-11-09T14:00:00Z")]
    // Spring forward (29 March 2026, 02:00 → 03:00 in Copenhagen): 02:30 does not exist that day.
    [InlineData("30 2 * * *", "Europe/Copenhagen", "2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z")]
    // Fall back (25 October 2026, 03:00 → 02:00): 02:30 happens twice and runs twice.
    [InlineData("30 2 * * *", "Europe/Copenhagen", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z")]
    [InlineData("30 2 * * *", "Europe/Copenhagen", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z")]
    [InlineData("30 2 * * *", "Europe/Copenhagen", "2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z")]
    public void Next_run_times_match_the_CronJob_controller(string expression, string zone, string after, string expected)
    {
        Assert.True(Schedules.TryParseCron(expression, out var cron, out var error), error);
        Assert.True(Schedules.TryFindTimeZone(zone, out var tz, out var tzError), tzError);
        var next = Schedules.NextOccurrence(cron!, tz!, DateTimeOffset.Parse(after, CultureInfo.InvariantCulture));
        Assert.Equal(DateTimeOffset.Parse(expected, CultureInfo.InvariantCulture), next);
    }

    [Theory]
    // robfig's Every: whole seconds, at least one; the CronJob controller counts from
    // status.lastScheduleTime (or the CronJob's creation, truncated to the second) in steps of it,
    // and the time zone plays no part.
    [InlineData("@every 1h", "2026-11-01T10:00:00.700Z", "2026-11-01T10:20:00Z", "2026-11-01T11:00:00Z")]
    [InlineData("@every 1h", "2026-11-01T10:00:00Z", "2026-11-01T11:00:00Z", "2026-11-01T12:00:00Z")]
    [InlineData("@every 1h", "2026-11-01T10:00:00Z", "2026-11-01T15:30:00Z", "2026-11-01T16:00:00Z")]
    [InlineData("@every 90m", "2026-11-01T10:00:00Z", "2026-11-01T10:00:00Z", "2026-11-01T11:30:00Z")]
    [InlineData("@every 1.5s", "2026-11-01T10:00:00Z", "2026-11-01T10:00:00Z", "2026-11-01T10:00:01Z")]
    [InlineData("@every 0", "2026-11-01T10:00:00Z", "2026-11-01T10:00:05Z", "2026-11-01T10:00:06Z")]
    [InlineData("@every 25h", "2026-10-24T12:00:00Z", "2026-10-25T13:30:00Z", "2026-10-26T14:00:00Z")]
    public void Every_counts_from_the_last_schedule_time_as_the_CronJob_controller_does(string expression, string anchor, string after, string expected)
    {
        Assert.True(Schedules.TryParseCron(expression, out var cron, out var error), error);
        Assert.True(Schedules.TryFindTimeZone("Europe/Copenhagen", out var tz, out _));
        var next = Schedules.NextOccurrence(cron!, tz!, DateTimeOffset.Parse(after, CultureInfo.InvariantCulture), DateTimeOffset.Parse(anchor, CultureInfo.InvariantCulture));
        Assert.Equal(DateTimeOffset.Parse(expected, CultureInfo.InvariantCulture), next);
    }

    [Fact]
    public void Parsing_the_same_text_again_gives_the_same_verdict_and_the_same_parsed_value()
    {
        // The parse is shared between callers: a second ask must give the first answer, valid or not.
        Assert.True(Schedules.TryParseCron("17 3 * * 1-5", out var first, out _));
        Assert.True(Schedules.TryParseCron("17 3 * * 1-5", out var second, out var noError));
        Assert.Same(first, second);
        Assert.Null(noError);

        Assert.False(Schedules.TryParseCron("61 * * * *", out _, out var error));
        Assert.False(Schedules.TryParseCron("61 * * * *", out var none, out var again));
        Assert.Null(none);
        Assert.Equal(error, again);
        Assert.Contains("above maximum", again, StringComparison.Ordinal);
    }

    [Fact]
    public void A_schedule_that_never_matches_has_no_next_run()
    {
        Assert.True(Schedules.TryParseCron("0 0 30 2 *", out var cron, out _));
        Assert.Null(Schedules.NextOccurrence(cron!, TimeZoneInfo.Utc, DateTimeOffset.Parse("2026-01-01T00:00:00Z", CultureInfo.InvariantCulture)));
    }

    [Theory]
    [InlineData("UTC")]
    [InlineData("Europe/Copenhagen")]
    [InlineData("America/Argentina/Buenos_Aires")]
    [InlineData("US/Eastern")]
    [InlineData("Etc/GMT+5")]
    public void Time_zones_the_API_server_knows_are_accepted(string zone)
    {
        Assert.True(Schedules.TryFindTimeZone(zone, out var tz, out var error), error);
        Assert.NotNull(tz);
    }

    [Theory]
    [InlineData("", "non-empty")]
    [InlineData("Local", "not Local")]
    [InlineData("local", "not Local")]
    [InlineData(" Europe/Copenhagen", "unknown time zone")]
    [InlineData("Europe/Copenhagen ", "unknown time zone")]
    [InlineData("europe/copenhagen", "not in the IANA tz database")]
    [InlineData("W. Europe Standard Time", "unknown time zone")]
    [InlineData("Europe/../Copenhagen", "unknown time zone")]
    [InlineData("-Europe", "unknown time zone")]
    [InlineData("America/Indiana/Indianapolis_Extra_Long", "unknown time zone")]
    [InlineData("posixrules", "not in the IANA tz database")]
    [InlineData("posix/Europe/Copenhagen", "not in the IANA tz database")]
    [InlineData("localtime", "not in the IANA tz database")]
    [InlineData("Europe/Atlantis", "not in the IANA tz database")]
    public void Time_zones_the_API_server_refuses_are_refused_even_when_this_host_knows_them(string zone, string reason)
    {
        Assert.False(Schedules.TryFindTimeZone(zone, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }
}
