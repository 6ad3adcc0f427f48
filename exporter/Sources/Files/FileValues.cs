using System.Globalization;
using System.Numerics;
using System.Text;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources.Files;

/// <summary>Parsing shared by the JSONL and CSV readers.</summary>
internal static class FileValues
{
    /// <summary>Rejects invalid UTF-8 instead of silently replacing it, so bad input fails loudly.</summary>
    public static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private const int MaxExponent = 10_000;

    // ISO 8601 with 'T' or a space, optional fraction, and "Z", "+hh:mm", "+hh" or no offset (UTC).
    private static readonly string[] TimestampFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzz",
        "yyyy-MM-dd'T'HH:mmK",
        "yyyy-MM-dd HH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd HH:mm:ss.FFFFFFFzz",
        "yyyy-MM-dd HH:mmK",
        "yyyy-MM-dd",
    ];

    /// <summary>
    /// An ISO 8601 timestamp in UTF-8 as UTC. The common shape (<c>yyyy-MM-ddTHH:mm:ss[.fffffff](Z|±hh:mm)</c>)
    /// is read from the bytes; any other falls back to <see cref="TryParseTimestamp(string, out DateTimeOffset)"/>,
    /// so both accept and give the same.
    /// </summary>
    public static bool TryParseTimestamp(ReadOnlySpan<byte> utf8, out DateTimeOffset value)
    {
        if (TryParseCommonTimestamp(utf8, out value))
        {
            return true;
        }

        return TryParseTimestamp(Encoding.UTF8.GetString(utf8), out value);
    }

    private static bool TryParseCommonTimestamp(ReadOnlySpan<byte> t, out DateTimeOffset value)
    {
        value = default;
        // yyyy-MM-ddTHH:mm:ss is 19 bytes, then a fraction and the offset.
        if (t.Length < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':')
        {
            return false;
        }

        if (!Digits(t[..4], out var year) || !Digits(t.Slice(5, 2), out var month) || !Digits(t.Slice(8, 2), out var day)
            || !Digits(t.Slice(11, 2), out var hour) || !Digits(t.Slice(14, 2), out var minute) || !Digits(t.Slice(17, 2), out var second))
        {
            return false;
        }

        // The edges of the calendar (where an offset may leave DateTimeOffset's range) go the slow way.
        if (year <= 1 || year >= 9999 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
        {
            return false;
        }

        var at = 19;
        long fraction = 0;
        if (t[at] == '.')
        {
            var digits = 0;
            at++;
            while (at < t.Length && t[at] is >= (byte)'0' and <= (byte)'9')
            {
                if (++digits > 7)
                {
                    return false;
                }

                fraction = (fraction * 10) + (t[at] - '0');
                at++;
            }

            if (digits == 0)
            {
                return false;
            }

            for (var i = digits; i < 7; i++)
            {
                fraction *= 10;
            }
        }

        long offsetTicks;
        var rest = t[at..];
        if (rest.Length == 1 && rest[0] == 'Z')
        {
            offsetTicks = 0;
        }
        else if (rest.Length == 6 && rest[0] is (byte)'+' or (byte)'-' && rest[3] == ':'
            && Digits(rest.Slice(1, 2), out var offsetHours) && Digits(rest.Slice(4, 2), out var offsetMinutes) && offsetHours <= 13 && offsetMinutes <= 59)
        {
            offsetTicks = ((offsetHours * 60L) + offsetMinutes) * TimeSpan.TicksPerMinute * (rest[0] == '-' ? -1 : 1);
        }
        else
        {
            return false;
        }

        var local = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified).Ticks + fraction;
        value = new DateTimeOffset(local - offsetTicks, TimeSpan.Zero);
        return true;
    }

    private static bool Digits(ReadOnlySpan<byte> digits, out int value)
    {
        value = 0;
        foreach (var d in digits)
        {
            if (d is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (d - '0');
        }

        return true;
    }

    /// <summary>A date as <c>yyyy-MM-dd</c>, the spelling every format writes.</summary>
    public static bool TryParseDate(ReadOnlySpan<byte> t, out DateOnly value)
    {
        value = default;
        if (t.Length != 10 || t[4] != '-' || t[7] != '-'
            || !Digits(t[..4], out var year) || !Digits(t.Slice(5, 2), out var month) || !Digits(t.Slice(8, 2), out var day)
            || year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month))
        {
            return false;
        }

        value = new DateOnly(year, month, day);
        return true;
    }

    /// <summary>
    /// A declared numeric field as the exact decimal text <see cref="DecimalText"/> promises: written into
    /// <paramref name="canonical"/> only when it is not that already (a '+', leading zeros, an exponent),
    /// so the common case copies nothing. With a precision, the digits must fit numeric(p,s).
    /// </summary>
    /// <returns>False when the text is not a decimal number or does not fit.</returns>
    public static bool TryCanonicalDecimal(ReadOnlySpan<byte> t, int? precision, int scale, out string? canonical)
    {
        canonical = null;
        var at = 0;
        var negative = false;
        if (at < t.Length && t[at] is (byte)'-' or (byte)'+')
        {
            negative = t[at] == '-';
            at++;
        }

        var intStart = at;
        while (at < t.Length && t[at] is >= (byte)'0' and <= (byte)'9')
        {
            at++;
        }

        var intDigits = at - intStart;
        var fracDigits = 0;
        if (at < t.Length && t[at] == '.')
        {
            at++;
            var fracStart = at;
            while (at < t.Length && t[at] is >= (byte)'0' and <= (byte)'9')
            {
                at++;
            }

            fracDigits = at - fracStart;
            if (fracDigits == 0)
            {
                return false;
            }
        }

        if (intDigits == 0)
        {
            return false;
        }

        var hasExponent = at < t.Length && t[at] is (byte)'e' or (byte)'E';
        if (hasExponent)
        {
            var e = at + 1;
            if (e < t.Length && t[e] is (byte)'-' or (byte)'+')
            {
                e++;
            }

            if (e == t.Length || t[e..].ContainsAnyExceptInRange((byte)'0', (byte)'9'))
            {
                return false;
            }
        }
        else if (at != t.Length)
        {
            return false;
        }

        var plain = !hasExponent && t[0] != '+' && (intDigits == 1 || t[intStart] != '0');
        if (!plain)
        {
            try
            {
                // CanonicalDecimal takes a JSON number: no '+', no leading zeros.
                var digits = t[intStart..];
                var zeros = 0;
                while (zeros < intDigits - 1 && digits[zeros] == '0')
                {
                    zeros++;
                }

                canonical = CanonicalDecimal(Encoding.ASCII.GetBytes((negative ? "-" : "") + Encoding.ASCII.GetString(digits[zeros..])));
            }
            catch (FormatException)
            {
                return false;
            }
        }

        if (precision is not { } p)
        {
            return true;
        }

        // The digits as PostgreSQL counts them for numeric(p,s): integer digits without leading zeros.
        var text = canonical is null ? t : Encoding.ASCII.GetBytes(canonical);
        var body = text[0] == '-' ? text[1..] : text;
        var dot = body.IndexOf((byte)'.');
        var whole = dot < 0 ? body : body[..dot];
        var fraction = dot < 0 ? 0 : body.Length - dot - 1;
        var significant = whole.TrimStart((byte)'0').Length;
        return fraction <= scale && significant <= p - scale;
    }

    // 10^0 … 10^22: every one a double exactly.
    private static ReadOnlySpan<double> PowersOfTen =>
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    /// <summary>
    /// A float field already spelled as the row digest and the formats spell its double (<c>ScalarText</c>'s
    /// shortest round-trip text): <c>-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?</c> with at most 15 significant
    /// digits and, below 1, at most three zeros after the point (smaller values are written with an exponent).
    /// Two numbers of at most 15 significant digits are never the same double (DBL_DIG), so the shortest
    /// text of the double such a field parses to is the field itself. The value is the digits as an integer
    /// below 2^53 divided by an exact power of ten: one correctly rounded division, the double
    /// <see cref="double.TryParse(ReadOnlySpan{byte}, NumberStyles, IFormatProvider?, out double)"/> gives
    /// (Clinger's fast path). False for anything else, which the caller parses the general way.
    /// </summary>
    /// <remarks>Half of a typed CSV total's row-digest time was formatting doubles back to this text.</remarks>
    public static bool TryParseCanonicalDouble(ReadOnlySpan<byte> t, out double value)
    {
        value = 0;
        var at = t.Length > 0 && t[0] == '-' ? 1 : 0;
        var negative = at == 1;
        if (at == t.Length)
        {
            return false;
        }

        long mantissa = 0;
        var significant = 0;
        if (t[at] == '0')
        {
            at++;
        }
        else
        {
            while (at < t.Length && t[at] is >= (byte)'0' and <= (byte)'9')
            {
                mantissa = (mantissa * 10) + (t[at++] - '0');
                if (++significant > 15)
                {
                    return false;
                }
            }

            if (significant == 0)
            {
                return false;
            }
        }

        var fraction = 0;
        if (at < t.Length)
        {
            if (t[at] != '.' || t[^1] == '0')
            {
                return false;
            }

            at++;
            var start = at;
            while (at < t.Length && t[at] is >= (byte)'0' and <= (byte)'9')
            {
                if (significant > 0 || t[at] != '0')
                {
                    significant++;
                }
                else if (at - start >= 3)
                {
                    // 0.0000…: the shortest text has an exponent (1E-05).
                    return false;
                }

                mantissa = (mantissa * 10) + (t[at++] - '0');
                if (significant > 15)
                {
                    return false;
                }
            }

            fraction = at - start;
            if (at != t.Length || fraction == 0)
            {
                return false;
            }
        }

        if (significant > 15)
        {
            return false;
        }

        var d = fraction == 0 ? mantissa : mantissa / PowersOfTen[fraction];
        value = negative ? -d : d;
        return true;
    }

    // 10^0 … 10^19: every one a ulong.
    private static ReadOnlySpan<ulong> IntegerPowersOfTen =>
    [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
        10_000_000_000, 100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000,
        1_000_000_000_000_000, 10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000,
        10_000_000_000_000_000_000,
    ];

    /// <summary>
    /// <c>-?[0-9]+\.[0-9]+</c> with at most 19 significant digits and at most 19 after the point, not zero: the
    /// double nearest to digits / 10^fraction, computed exactly (a 128-bit quotient, its remainder as the sticky
    /// bit, rounded half to even), so the bits <see cref="double.TryParse(ReadOnlySpan{byte}, NumberStyles, IFormatProvider?, out double)"/>
    /// gives. Doubles written as their 17-digit shortest text (what most tools write) take this path;
    /// false for anything else, which the caller parses the general way.
    /// </summary>
    /// <remarks>The general parse was the CSV reader's largest item for such a column (about 70 ns a value).</remarks>
    public static bool TryParseLongDecimalDouble(ReadOnlySpan<byte> t, out double value)
    {
        value = 0;
        var at = t.Length > 0 && t[0] == '-' ? 1 : 0;
        var negative = at == 1;
        ulong mantissa = 0;
        var significant = 0;
        var point = -1;
        for (; at < t.Length; at++)
        {
            var c = t[at];
            if (c is >= (byte)'0' and <= (byte)'9')
            {
                if (significant > 0 || c != '0')
                {
                    if (++significant > 19)
                    {
                        return false;
                    }

                    mantissa = (mantissa * 10) + (ulong)(c - '0');
                }
            }
            else if (c == '.' && point < 0 && at > (negative ? 1 : 0))
            {
                point = at;
            }
            else
            {
                return false;
            }
        }

        var fraction = t.Length - point - 1;
        if (point < 0 || fraction is < 1 or > 19 || mantissa == 0)
        {
            return false;
        }

        // mantissa · 2^shift / 10^fraction with the numerator's top bit at 127: a quotient of 64 bits or more.
        var shift = 64 + BitOperations.LeadingZeroCount(mantissa);
        var numerator = (UInt128)mantissa << shift;
        var divisor = (UInt128)IntegerPowersOfTen[fraction];
        var quotient = numerator / divisor;
        var sticky = numerator - (quotient * divisor) != UInt128.Zero;
        var bits = 128 - (int)UInt128.LeadingZeroCount(quotient);
        var drop = bits - 53;
        var kept = (ulong)(quotient >> drop);
        var rest = quotient & ((UInt128.One << drop) - UInt128.One);
        var half = UInt128.One << (drop - 1);
        if (rest > half || (rest == half && (sticky || (kept & 1) == 1)))
        {
            kept++;
        }

        var d = Math.ScaleB(kept, drop - shift);
        value = negative ? -d : d;
        return true;
    }

    /// <summary>A boolean as <c>true</c>/<c>false</c> or PostgreSQL's <c>t</c>/<c>f</c>, any case.</summary>
    public static bool TryParseBoolean(ReadOnlySpan<byte> t, out bool value)
    {
        value = t.Length is 1 or 4 && (t.Length == 1 ? (t[0] | 0x20) == 't' : Ascii.EqualsIgnoreCase(t, "true"u8));
        return value || (t.Length == 1 ? (t[0] | 0x20) == 'f' : t.Length == 5 && Ascii.EqualsIgnoreCase(t, "false"u8));
    }

    /// <summary>An ISO 8601 timestamp as UTC; text without an offset is taken as UTC.</summary>
    public static bool TryParseTimestamp(string text, out DateTimeOffset value)
    {
        if (DateTimeOffset.TryParseExact(text.Trim(), TimestampFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value))
        {
            value = value.ToUniversalTime();
            return true;
        }

        return false;
    }

    /// <summary>
    /// A JSON number as exact decimal text without an exponent (<c>1.5e3</c> → <c>1500</c>), the form
    /// <see cref="DecimalText"/> promises. Digits are kept as written, so 1.50 stays 1.50.
    /// </summary>
    public static string CanonicalDecimal(ReadOnlySpan<byte> number)
    {
        var e = number.IndexOfAny((byte)'e', (byte)'E');
        if (e < 0)
        {
            return Encoding.ASCII.GetString(number);
        }

        var mantissa = number[..e];
        var exponent = int.Parse(number[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        if (Math.Abs(exponent) > MaxExponent)
        {
            throw new FormatException($"Exponent {exponent} is out of range for an exact decimal.");
        }

        var negative = mantissa.Length > 0 && mantissa[0] == '-';
        if (negative)
        {
            mantissa = mantissa[1..];
        }

        var dot = mantissa.IndexOf((byte)'.');
        var intPart = dot < 0 ? mantissa : mantissa[..dot];
        var fracPart = dot < 0 ? [] : mantissa[(dot + 1)..];
        var digits = Encoding.ASCII.GetString(intPart) + Encoding.ASCII.GetString(fracPart);
        var point = intPart.Length + exponent;

        string whole;
        string fraction;
        if (point <= 0)
        {
            whole = "0";
            fraction = new string('0', -point) + digits;
        }
        else if (point >= digits.Length)
        {
            whole = digits + new string('0', point - digits.Length);
            fraction = "";
        }
        else
        {
            whole = digits[..point];
            fraction = digits[point..];
        }

        whole = whole.TrimStart('0');
        if (whole.Length == 0)
        {
            whole = "0";
        }

        var text = fraction.Length > 0 ? whole + "." + fraction : whole;
        var isZero = !text.AsSpan().ContainsAnyExcept("0.");
        return negative && !isZero ? "-" + text : text;
    }
}
