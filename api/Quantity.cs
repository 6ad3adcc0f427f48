using System.Globalization;
using System.Text.RegularExpressions;

namespace BulkExport.Api;

/// <summary>Kubernetes resource quantities (<c>1Gi</c>, <c>500M</c>, <c>1048576</c>) as whole bytes.</summary>
public static partial class Quantity
{
    [GeneratedRegex(@"^(?<n>[0-9]+(\.[0-9]+)?)(?<s>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")]
    private static partial Regex Pattern();

    public const string PatternText = @"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$";

    public static bool TryParse(string? text, out long bytes)
    {
        bytes = 0;
        var m = text is null ? null : Pattern().Match(text);
        if (m is null || !m.Success)
        {
            return false;
        }

        var multiplier = m.Groups["s"].Value switch
        {
            "" => 1m,
            "Ki" => 1024m,
            "Mi" => 1024m * 1024,
            "Gi" => 1024m * 1024 * 1024,
            "Ti" => 1024m * 1024 * 1024 * 1024,
            "Pi" => 1024m * 1024 * 1024 * 1024 * 1024,
            "Ei" => 1024m * 1024 * 1024 * 1024 * 1024 * 1024,
            "k" => 1e3m,
            "M" => 1e6m,
            "G" => 1e9m,
            "T" => 1e12m,
            "P" => 1e15m,
            _ => 1e18m,
        };
        var value = decimal.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture) * multiplier;
        if (value > long.MaxValue)
        {
            return false;
        }

        bytes = (long)decimal.Ceiling(value);
        return true;
    }

    public static long Parse(string text) =>
        TryParse(text, out var bytes) ? bytes : throw new FormatException($"'{text}' is not a Kubernetes quantity");
}

/// <summary>Go-style durations (<c>336h</c>, <c>1h30m</c>, <c>90s</c>), the form Kubernetes APIs use.</summary>
public static partial class GoDuration
{
    [GeneratedRegex(@"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$")]
    private static partial Regex Whole();

    [GeneratedRegex(@"([0-9]+(?:\.[0-9]+)?)(h|ms|m|s)")]
    private static partial Regex Part();

    public const string PatternText = @"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$";

    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (text is null || !Whole().IsMatch(text))
        {
            return false;
        }

        foreach (Match m in Part().Matches(text))
        {
            var n = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            duration += m.Groups[2].Value switch
            {
                "h" => TimeSpan.FromHours(n),
                "m" => TimeSpan.FromMinutes(n),
                "s" => TimeSpan.FromSeconds(n),
                _ => TimeSpan.FromMilliseconds(n),
            };
        }

        return true;
    }

    public static TimeSpan Parse(string text) =>
        TryParse(text, out var d) ? d : throw new FormatException($"'{text}' is not a duration such as 336h or 1h30m");
}
