using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Cronos;

namespace BulkExport.Api;

/// <summary>
/// A schedule in the Kubernetes CronJob dialect: what the API server's validation accepts
/// (<c>cron.ParseStandard</c> of robfig/cron v3) and the run times the CronJob controller computes
/// from it. Cronos does the calendar search; this type owns the dialect, which differs from Cronos':
/// day-of-week is 0–6 (7 is refused), no <c>L</c>, <c>W</c>, <c>#</c> or seconds, <c>?</c> is
/// <c>*</c> in every field, <c>N/step</c> means <c>N-max/step</c>, and when both day-of-month and
/// day-of-week are restricted a day matches either (OR), where Cronos requires both.
/// </summary>
public sealed class KubeCron
{
    private static readonly string[] MonthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    private static readonly string[] DayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

    private static readonly Dictionary<string, string> Descriptors = new(StringComparer.Ordinal)
    {
        ["@yearly"] = "0 0 1 1 *",
        ["@annually"] = "0 0 1 1 *",
        ["@monthly"] = "0 0 1 * *",
        ["@weekly"] = "0 0 * * 0",
        ["@daily"] = "0 0 * * *",
        ["@midnight"] = "0 0 * * *",
        ["@hourly"] = "0 * * * *",
    };

    private readonly CronExpression[] _expressions;

    private KubeCron(string text, CronExpression[] expressions, TimeSpan? every = null)
    {
        Text = text;
        _expressions = expressions;
        Every = every;
    }

    public string Text { get; }

    /// <summary>
    /// The fixed delay of an <c>@every</c> schedule (whole seconds, at least one), else null. Its
    /// runs are counted from the CronJob's status.lastScheduleTime, or its creation before the
    /// first run, not from the wall clock: see <see cref="Next(TimeZoneInfo, DateTimeOffset, DateTimeOffset)"/>.
    /// </summary>
    public TimeSpan? Every { get; }

    /// <summary>Parses <paramref name="text"/> as the API server does; the error names the rule broken, as its message would.</summary>
    public static bool TryParse(string? text, out KubeCron? cron, out string? error)
    {
        cron = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "required";
            return false;
        }

        if (Parsed.TryGetValue(text, out var known))
        {
            (cron, error) = known;
            return cron is not null;
        }

        if (!TryParseCore(text, out cron, out var reason))
        {
            error = $"'{text}' is not a valid cron expression for a Kubernetes CronJob: {reason}";
        }

        if (Parsed.Count >= MaxParsed)
        {
            Parsed.Clear();
        }

        Parsed[text] = (cron, error);
        return cron is not null;
    }

    /// <summary>
    /// Parses by text, shared: the verdict is a pure function of the text and a KubeCron is immutable,
    /// and one reconcile asks for the same two expressions several times (validation, status, the
    /// missed-run policy of each CronJob, the catch-up check). Bounded: emptied when full, so changing
    /// specs cannot grow it without limit.
    /// </summary>
    private static readonly ConcurrentDictionary<string, (KubeCron? Cron, string? Error)> Parsed = new(StringComparer.Ordinal);

    private const int MaxParsed = 4096;

    private static bool TryParseCore(string text, out KubeCron? cron, out string? error)
    {
        cron = null;
        error = null;

        // The API server refuses any schedule containing TZ (TZ= and CRON_TZ= prefixes).
        if (text.Contains("TZ", StringComparison.Ordinal))
        {
            error = "cannot use TZ or CRON_TZ in schedule, use spec.timeZone instead";
            return false;
        }

        // robfig checks for a descriptor before splitting into fields, on the text as given: "@hourly "
        // is an unknown descriptor and " @hourly" a one-field expression.
        var spec = text;
        if (spec.StartsWith('@'))
        {
            if (spec.StartsWith("@every ", StringComparison.Ordinal))
            {
                // robfig's parseDescriptor: time.ParseDuration of the rest, then Every(), which
                // raises anything under a second to one second and drops sub-second parts.
                if (!GoParseDuration.TryParse(spec["@every ".Length..], out var every, out var durationError))
                {
                    error = $"failed to parse duration {spec}: {durationError}";
                    return false;
                }

                var delay = every < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(Math.Floor(every.TotalSeconds));
                cron = new KubeCron(text, [], delay);
                return true;
            }

            if (!Descriptors.TryGetValue(spec, out var expanded))
            {
                error = $"unrecognized descriptor: {spec}";
                return false;
            }

            spec = expanded;
        }

        var fields = spec.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
        {
            error = $"must have five fields (minute hour day-of-month month day-of-week), found {fields.Length}";
            return false;
        }

        var parsed = new Field[5];
        (int Min, int Max, string[]? Names)[] bounds = [(0, 59, null), (0, 23, null), (1, 31, null), (1, 12, MonthNames), (0, 6, DayNames)];
        for (var i = 0; i < 5; i++)
        {
            if (!TryParseField(fields[i], bounds[i].Min, bounds[i].Max, bounds[i].Names, out parsed[i], out error))
            {
                return false;
            }
        }

        string Join(params Field[] f) => string.Join(' ', f.Select(x => x.Cronos));
        var any = Field.Any;
        var expressions = parsed[2].Star || parsed[4].Star
            ? new[] { Join(parsed) }
            // Both day fields restricted: a day matching either runs (robfig's dayMatches).
            : [Join(parsed[0], parsed[1], parsed[2], parsed[3], any), Join(parsed[0], parsed[1], any, parsed[3], parsed[4])];
        cron = new KubeCron(text, [.. expressions.Select(e => CronExpression.Parse(e, CronFormat.Standard))]);
        return true;
    }

    /// <summary>
    /// The first run strictly after <paramref name="after"/>, in the wall-clock time of <paramref name="zone"/>
    /// as the CronJob controller counts it: a wall time a DST jump skips has no run, a wall time
    /// repeated when clocks go back runs at both instants. Null when nothing matches within five
    /// years (e.g. 30 February), as robfig's search gives up.
    /// </summary>
    public DateTimeOffset? Next(TimeZoneInfo zone, DateTimeOffset after) => Next(zone, after, after);

    /// <summary>
    /// As <see cref="Next(TimeZoneInfo, DateTimeOffset)"/>, with the instant an <c>@every</c>
    /// schedule counts from: the CronJob controller takes status.lastScheduleTime, or the CronJob's
    /// creationTimestamp before its first run, truncates it to the second and steps by the delay
    /// (<c>mostRecentScheduleTime</c>); the time zone does not apply. Ignored for cron expressions.
    /// </summary>
    public DateTimeOffset? Next(TimeZoneInfo zone, DateTimeOffset after, DateTimeOffset anchor)
    {
        if (Every is { } every)
        {
            var start = new DateTimeOffset(anchor.UtcTicks - (anchor.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
            var first = start + every;
            if (after < first)
            {
                return first;
            }

            var steps = ((after - first).Ticks / every.Ticks) + 1;
            return first + TimeSpan.FromTicks(steps * every.Ticks);
        }

        var wall = DateTime.SpecifyKind(TimeZoneInfo.ConvertTime(after, zone).DateTime, DateTimeKind.Utc);
        // A wall time repeated when clocks go back can be the one we are in: search from an hour
        // earlier so its second instant is found too.
        var from = wall.AddHours(-1);
        var end = wall.AddYears(5);
        while (from < end)
        {
            DateTime? candidate = null;
            foreach (var e in _expressions)
            {
                if (e.GetNextOccurrence(from) is { } c && (candidate is null || c < candidate))
                {
                    candidate = c;
                }
            }

            if (candidate is not { } next || next >= end)
            {
                return null;
            }

            from = next;
            var local = DateTime.SpecifyKind(next, DateTimeKind.Unspecified);
            if (zone.IsInvalidTime(local))
            {
                continue;
            }

            var offsets = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).OrderByDescending(o => o) : new[] { zone.GetUtcOffset(local) }.AsEnumerable();
            foreach (var offset in offsets)
            {
                var instant = new DateTimeOffset(local, offset).ToUniversalTime();
                if (instant > after)
                {
                    return instant;
                }
            }
        }

        return null;
    }

    private readonly record struct Field(string Cronos, bool Star)
    {
        public static readonly Field Any = new("*", true);
    }

    /// <summary>One field as robfig's getField/getRange parse it: comma-separated ranges, each <c>*</c>, <c>?</c>, <c>a</c> or <c>a-b</c>, with an optional <c>/step</c>.</summary>
    private static bool TryParseField(string text, int min, int max, string[]? names, out Field field, out string? error)
    {
        field = default;
        error = null;
        var values = new SortedSet<int>();
        var star = false;
        foreach (var part in text.Split(','))
        {
            var rangeAndStep = part.Split('/');
            var lowAndHigh = rangeAndStep[0].Split('-');
            int start, end, step = 1;
            var partStar = false;
            if (lowAndHigh[0] is "*" or "?")
            {
                (start, end, partStar) = (min, max, true);
            }
            else
            {
                if (!TryValue(lowAndHigh[0], names, out start, out error))
                {
                    return false;
                }

                switch (lowAndHigh.Length)
                {
                    case 1:
                        end = start;
                        break;
                    case 2:
                        if (!TryValue(lowAndHigh[1], names, out end, out error))
                        {
                            return false;
                        }

                        break;
                    default:
                        error = $"too many hyphens: {part}";
                        return false;
                }
            }

            switch (rangeAndStep.Length)
            {
                case 1:
                    break;
                case 2:
                    if (!TryNumber(rangeAndStep[1], out step, out error))
                    {
                        return false;
                    }

                    if (lowAndHigh.Length == 1)
                    {
                        end = max;
                    }

                    // "*/2" is a restriction, "*" and "*/1" are not (robfig clears the star bit for steps above 1).
                    partStar &= step <= 1;
                    break;
                default:
                    error = $"too many slashes: {part}";
                    return false;
            }

            if (start < min)
            {
                error = $"beginning of range ({start}) below minimum ({min}): {part}";
                return false;
            }

            if (end > max)
            {
                error = $"end of range ({end}) above maximum ({max}): {part}";
                return false;
            }

            if (start > end)
            {
                error = $"beginning of range ({start}) beyond end of range ({end}): {part}";
                return false;
            }

            if (step == 0)
            {
                error = $"step of range should be a positive number: {part}";
                return false;
            }

            star |= partStar;
            for (var v = start; v <= end; v += step)
            {
                values.Add(v);
            }
        }

        field = values.Count == max - min + 1 ? new Field("*", star) : new Field(string.Join(',', values), star);
        return true;
    }

    private static bool TryValue(string text, string[]? names, out int value, out string? error)
    {
        var index = names is null ? -1 : Array.IndexOf(names, text.ToLowerInvariant());
        if (index >= 0)
        {
            value = index + (ReferenceEquals(names, MonthNames) ? 1 : 0);
            error = null;
            return true;
        }

        return TryNumber(text, out value, out error);
    }

    /// <summary>Go's strconv.Atoi, as robfig's mustParseInt: an optional sign, decimal digits, no negatives.</summary>
    private static bool TryNumber(string text, out int value, out string? error)
    {
        error = null;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
        {
            error = $"failed to parse int from {text}";
            return false;
        }

        if (value < 0)
        {
            error = $"negative number ({value}) not allowed: {text}";
            return false;
        }

        return true;
    }
}

/// <summary>Cron and time-zone handling shared by validation, the operator's next-run times and the exporter.</summary>
public static partial class Schedules
{
    private static readonly Lazy<HashSet<string>> ApiServerZones = new(LoadZoneNames);

    public static bool TryParseCron(string? text, out KubeCron? schedule, out string? error) => KubeCron.TryParse(text, out schedule, out error);

    /// <summary>
    /// A <c>spec.timeZone</c> as the API server validates a CronJob's: each path segment 1–14 of
    /// <c>[A-Za-z.-_0-9+]</c> and not <c>.</c>, <c>..</c> or starting with <c>-</c>; not <c>Local</c>;
    /// a name of the tz database it embeds (case-sensitive). This host must know it too, to compute run times.
    /// </summary>
    public static bool TryFindTimeZone(string? id, out TimeZoneInfo? zone, out string? error)
    {
        zone = null;
        error = null;
        if (string.IsNullOrEmpty(id))
        {
            error = "must be a non-empty IANA time zone name such as Europe/Copenhagen or UTC";
            return false;
        }

        if (id.Split('/').Any(part => part is "." or ".." || part.StartsWith('-') || !ZonePartRegex().IsMatch(part)))
        {
            error = $"unknown time zone {id}";
            return false;
        }

        if (string.Equals(id, "Local", StringComparison.OrdinalIgnoreCase))
        {
            error = "must be an explicit time zone as defined in https://www.iana.org/time-zones, not Local";
            return false;
        }

        if (!ApiServerZones.Value.Contains(id))
        {
            error = $"unknown time zone {id}: not in the IANA tz database the API server embeds (names are case-sensitive, for example Europe/Copenhagen or UTC)";
            return false;
        }

        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            return true;
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            error = $"time zone {id} is valid for Kubernetes but missing from this host's time zone database (install tzdata)";
            return false;
        }
    }

    public static bool TryFindTimeZone(string? id, out TimeZoneInfo? zone) => TryFindTimeZone(id, out zone, out _);

    /// <summary>The next run after <paramref name="after"/>, as the CronJob controller computes it in <paramref name="zone"/>.</summary>
    public static DateTimeOffset? NextOccurrence(KubeCron schedule, TimeZoneInfo zone, DateTimeOffset after) => schedule.Next(zone, after);

    /// <summary>As above, with the instant an <c>@every</c> schedule counts from (the CronJob's last schedule time or creation).</summary>
    public static DateTimeOffset? NextOccurrence(KubeCron schedule, TimeZoneInfo zone, DateTimeOffset after, DateTimeOffset anchor) => schedule.Next(zone, after, anchor);

    [GeneratedRegex(@"^[A-Za-z\.\-_0-9+]{1,14}$")]
    private static partial Regex ZonePartRegex();

    private static HashSet<string> LoadZoneNames()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("BulkExport.Api.TimeZoneNames.txt")
            ?? throw new InvalidOperationException("embedded resource TimeZoneNames.txt is missing");
        using var reader = new StreamReader(stream);
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0 && !line.StartsWith('#'))
            {
                names.Add(line);
            }
        }

        return names;
    }
}

/// <summary>
/// Go's <c>time.ParseDuration</c>, which robfig/cron uses for <c>@every</c>: a signed sequence of
/// decimal numbers, each with an optional fraction and a unit (ns, us, µs, μs, ms, s, m, h); "0"
/// alone needs no unit. Error texts are Go's, so the verdict reads as the API server's.
/// </summary>
internal static class GoParseDuration
{
    private static readonly Dictionary<string, decimal> Units = new(StringComparer.Ordinal)
    {
        ["ns"] = 1m,
        ["us"] = 1_000m,
        ["\u00b5s"] = 1_000m,
        ["\u03bcs"] = 1_000m,
        ["ms"] = 1_000_000m,
        ["s"] = 1_000_000_000m,
        ["m"] = 60_000_000_000m,
        ["h"] = 3_600_000_000_000m,
    };

    public static bool TryParse(string text, out TimeSpan duration, out string? error)
    {
        duration = TimeSpan.Zero;
        error = null;
        var invalid = $"time: invalid duration \"{text}\"";
        var s = text;
        var negative = false;
        if (s.Length > 0 && s[0] is '-' or '+')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s == "0")
        {
            return true;
        }

        if (s.Length == 0)
        {
            error = invalid;
            return false;
        }

        decimal nanos = 0;
        while (s.Length > 0)
        {
            if (!(s[0] == '.' || char.IsAsciiDigit(s[0])))
            {
                error = invalid;
                return false;
            }

            var i = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }

            var whole = s[..i];
            s = s[i..];
            var fraction = "";
            if (s.Length > 0 && s[0] == '.')
            {
                s = s[1..];
                i = 0;
                while (i < s.Length && char.IsAsciiDigit(s[i]))
                {
                    i++;
                }

                fraction = s[..i];
                s = s[i..];
                if (whole.Length == 0 && fraction.Length == 0)
                {
                    error = invalid;
                    return false;
                }
            }
            else if (whole.Length == 0)
            {
                error = invalid;
                return false;
            }

            i = 0;
            while (i < s.Length && s[i] != '.' && !char.IsAsciiDigit(s[i]))
            {
                i++;
            }

            if (i == 0)
            {
                error = $"time: missing unit in duration \"{text}\"";
                return false;
            }

            var unit = s[..i];
            s = s[i..];
            if (!Units.TryGetValue(unit, out var scale))
            {
                error = $"time: unknown unit \"{unit}\" in duration \"{text}\"";
                return false;
            }

            if (whole.Length > 19 || (whole.Length > 0 && !decimal.TryParse(whole, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                error = invalid;
                return false;
            }

            var value = (whole.Length == 0 ? 0m : decimal.Parse(whole, NumberStyles.None, CultureInfo.InvariantCulture))
                + (fraction.Length == 0 ? 0m : decimal.Parse("0." + fraction[..Math.Min(fraction.Length, 27)], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture));
            nanos += decimal.Floor(value * scale);
            // Go's Duration is an int64 of nanoseconds.
            if (nanos > long.MaxValue)
            {
                error = invalid;
                return false;
            }
        }

        var ticks = (long)(nanos / 100m);
        duration = TimeSpan.FromTicks(negative ? -ticks : ticks);
        return true;
    }
}
