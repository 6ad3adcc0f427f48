using System.Globalization;
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
