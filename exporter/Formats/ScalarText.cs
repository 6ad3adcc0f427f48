using System.Globalization;
using System.Text;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// The one spelling of every scalar kind, shared by all formats so a value reads the same in JSON and
/// CSV. Values are normalised here too: sources may hand an int for an Integer column or a decimal
/// for a Decimal one, and that must not change the output.
/// </summary>
internal static class ScalarText
{
    /// <summary>Enough for any scalar rendered here (the longest is a TimestampTz: 28 bytes).</summary>
    public const int MaxScalarBytes = 64;


    public static long ToInt64(object value, Column column) =>
        BoxedValues.TryInt64(value, out var result) ? result : throw Mismatch(value, column);

    /// <summary>Exact decimal text; null when the value is not a finite number (NaN, Infinity), which formats write as a string.</summary>
    public static string DecimalString(object value, Column column) => value switch
    {
        DecimalText d => d.Text,
        decimal m => m.ToString(CultureInfo.InvariantCulture),
        long or int or short or sbyte or byte or ushort or uint or ulong => Convert.ToString(value, CultureInfo.InvariantCulture)!,
        string s => s,
        _ => throw Mismatch(value, column),
    };

    /// <summary>Whether <paramref name="text"/> is a plain JSON number, so it can be embedded unquoted.</summary>
    public static bool IsJsonNumber(ReadOnlySpan<char> text) => IsJsonNumberOf(text);

    /// <summary>Whether the UTF-8 <paramref name="text"/> is a plain JSON number, so it can be embedded unquoted.</summary>
    public static bool IsJsonNumber(ReadOnlySpan<byte> text) => IsJsonNumberOf(text);

    private static bool IsJsonNumberOf<T>(ReadOnlySpan<T> text)
        where T : unmanaged, System.Numerics.IBinaryInteger<T>
    {
        static bool Is(T c, char ascii) => c == T.CreateTruncating(ascii);
        static bool IsDigit(T c) => c >= T.CreateTruncating('0') && c <= T.CreateTruncating('9');

        var i = 0;
        if (i < text.Length && Is(text[i], '-'))
        {
            i++;
        }

        var intStart = i;
        while (i < text.Length && IsDigit(text[i]))
        {
            i++;
        }

        var intDigits = i - intStart;
        if (intDigits == 0 || (intDigits > 1 && Is(text[intStart], '0')))
        {
            return false;
        }

        if (i < text.Length && Is(text[i], '.'))
        {
            i++;
            var fractionStart = i;
            while (i < text.Length && IsDigit(text[i]))
            {
                i++;
            }

            if (i == fractionStart)
            {
                return false;
            }
        }

        if (i < text.Length && (Is(text[i], 'e') || Is(text[i], 'E')))
        {
            i++;
            if (i < text.Length && (Is(text[i], '+') || Is(text[i], '-')))
            {
                i++;
            }

            var expStart = i;
            while (i < text.Length && IsDigit(text[i]))
            {
                i++;
            }

            if (i == expStart)
            {
                return false;
            }
        }

        return i == text.Length;
    }

    public static int FormatInt64(long value, Span<byte> destination)
    {
        value.TryFormat(destination, out var written, default, CultureInfo.InvariantCulture);
        return written;
    }

    /// <summary>A double's one spelling (shortest round-trip text; PostgreSQL's names for the non-finite ones).</summary>
    public static int FormatDouble(double value, Span<byte> destination)
    {
        FormatDouble(value, destination, out var written);
        return written;
    }

    /// <summary>
    /// The UTF-8 text of a fixed-width scalar of a row (Integer, Float, Boolean, Date, Timestamp,
    /// TimestampTz, Uuid) from its typed getter: the same spelling as <see cref="Format(ColumnKind, object, Column, Span{byte})"/>.
    /// </summary>
    public static int Format(IRowView row, int column, Span<byte> destination)
    {
        // A batch's row: from its words, or the spelling the row digest kept (RowBatch.KeepSpelling).
        if (row is RowBatch.BatchRowView view)
        {
            return Format(view.Batch, view.Row, column, row.Columns[column].Kind, destination);
        }

        int written;
        switch (row.Columns[column].Kind)
        {
            case ColumnKind.Integer:
                return FormatInt64(row.GetInt64(column), destination);
            case ColumnKind.Float:
                return FormatDouble(row.GetDouble(column), destination);
            case ColumnKind.Boolean:
                var text = row.GetBoolean(column) ? "true"u8 : "false"u8;
                text.CopyTo(destination);
                return text.Length;
            case ColumnKind.Date:
                FormatDate(row.GetDate(column), destination, out written);
                return written;
            case ColumnKind.Timestamp:
                FormatTimestamp(row.GetTimestamp(column), utc: false, destination, out written);
                return written;
            case ColumnKind.TimestampTz:
                FormatTimestamp(row.GetTimestampTz(column).UtcDateTime, utc: true, destination, out written);
                return written;
            case ColumnKind.Uuid:
                row.GetGuid(column).TryFormat(destination, out written, "D");
                return written;
            default:
                throw new ArgumentOutOfRangeException(nameof(column), row.Columns[column].Kind, "Not a fixed-width scalar kind.");
        }
    }

    /// <summary>
    /// A fixed-width scalar held as a <c>RowBatch</c> word (Integer, Float bits, Boolean 0/1, Date day number,
    /// Timestamp or TimestampTz ticks): the spelling of <see cref="Format(IRowView, int, Span{byte})"/>.
    /// </summary>
    public static int FormatWord(ColumnKind kind, long word, Span<byte> destination)
    {
        int written;
        switch (kind)
        {
            case ColumnKind.Integer:
                return FormatInt64(word, destination);
            case ColumnKind.Float:
                return FormatDouble(BitConverter.Int64BitsToDouble(word), destination);
            case ColumnKind.Boolean:
                var text = word != 0 ? "true"u8 : "false"u8;
                text.CopyTo(destination);
                return text.Length;
            case ColumnKind.Date:
                FormatDate(DateOnly.FromDayNumber((int)word), destination, out written);
                return written;
            case ColumnKind.Timestamp:
                FormatTimestamp(new DateTime(word, DateTimeKind.Unspecified), utc: false, destination, out written);
                return written;
            case ColumnKind.TimestampTz:
                FormatTimestamp(new DateTime(word, DateTimeKind.Utc), utc: true, destination, out written);
                return written;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a kind held as a word.");
        }
    }

    /// <summary>
    /// A batch value of a fixed-width kind (a word, or a Uuid): the spelling the row digest kept
    /// (<see cref="RowBatch.KeepSpelling"/>) when there is one, else formatted as <see cref="FormatWord"/> does.
    /// </summary>
    public static int Format(RowBatch batch, int row, int column, ColumnKind kind, Span<byte> destination)
    {
        if (batch.TryGetSpelling(row, column, out var kept))
        {
            kept.CopyTo(destination);
            return kept.Length;
        }

        return kind == ColumnKind.Uuid
            ? FormatUuid(batch.GuidAt(row, column), destination)
            : FormatWord(kind, batch.WordAt(row, column), destination);
    }

    /// <summary>A Uuid's spelling (the "D" form, lowercase).</summary>
    public static int FormatUuid(Guid value, Span<byte> destination)
    {
        value.TryFormat(destination, out var written, "D");
        return written;
    }

    /// <summary>A Date's spelling (yyyy-MM-dd).</summary>
    public static int FormatDate(DateOnly date, Span<byte> destination)
    {
        FormatDate(date, destination, out var written);
        return written;
    }

    /// <summary>A Timestamp's spelling, or a TimestampTz's (UTC ticks, <paramref name="utc"/>: with the Z).</summary>
    public static int FormatTimestamp(DateTime value, bool utc, Span<byte> destination)
    {
        FormatTimestamp(value, utc, destination, out var written);
        return written;
    }

    public static double ToDouble(object value, Column column) =>
        BoxedValues.TryDouble(value, out var result) ? result : throw Mismatch(value, column);

    /// <summary>
    /// Writes the UTF-8 text of a scalar of <paramref name="kind"/> that needs neither quoting in CSV nor
    /// escaping in JSON strings: Integer, Float, Boolean, Date, Timestamp, TimestampTz, Uuid.
    /// </summary>
    public static int Format(ColumnKind kind, object value, Column column, Span<byte> destination)
    {
        int written;
        var ok = kind switch
        {
            ColumnKind.Integer => ToInt64(value, column).TryFormat(destination, out written, default, CultureInfo.InvariantCulture),
            ColumnKind.Float => FormatDouble(ToDouble(value, column), destination, out written),
            ColumnKind.Boolean => FormatBoolean(value, column, destination, out written),
            ColumnKind.Date => FormatDate(ToDate(value, column), destination, out written),
            ColumnKind.Timestamp => FormatTimestamp(ToTimestamp(value, column), utc: false, destination, out written),
            ColumnKind.TimestampTz => FormatTimestamp(ToUtc(value, column), utc: true, destination, out written),
            ColumnKind.Uuid => value is Guid g
                ? g.TryFormat(destination, out written, "D")
                : throw Mismatch(value, column),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a fixed-width scalar kind."),
        };
        if (!ok)
        {
            throw new InvalidOperationException($"Column '{column.Name}': value did not fit the scalar buffer.");
        }

        return written;
    }

    /// <summary>PostgreSQL's spellings for the non-finite values, which JSON cannot hold as numbers.</summary>
    public static string? NonFiniteName(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : null;

    private static bool FormatDouble(double d, Span<byte> destination, out int written)
    {
        var name = NonFiniteName(d);
        if (name is not null)
        {
            written = Encoding.ASCII.GetBytes(name, destination);
            return true;
        }

        // "R" is the shortest text that parses back to the same double.
        return d.TryFormat(destination, out written, "R", CultureInfo.InvariantCulture);
    }

    // Hand-written ISO 8601: a custom format string is parsed on every call and timestamps are the
    // most common non-text values. Same output as "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF": the fraction
    // loses trailing zeros, and a whole second has no fraction and no period.
    private static bool FormatDate(DateOnly date, Span<byte> destination, out int written)
    {
        date.Deconstruct(out var year, out var month, out var day);
        WriteDate(destination, year, month, day);
        written = 10;
        return true;
    }

    private static bool FormatTimestamp(DateTime value, bool utc, Span<byte> destination, out int written)
    {
        WriteDate(destination, value.Year, value.Month, value.Day);
        destination[10] = (byte)'T';
        WriteTwoDigits(destination[11..], value.Hour);
        destination[13] = (byte)':';
        WriteTwoDigits(destination[14..], value.Minute);
        destination[16] = (byte)':';
        WriteTwoDigits(destination[17..], value.Second);
        var at = 19;
        var fraction = (int)(value.Ticks % TimeSpan.TicksPerSecond);
        if (fraction != 0)
        {
            destination[at++] = (byte)'.';
            var digits = 7;
            while (fraction % 10 == 0)
            {
                fraction /= 10;
                digits--;
            }

            for (var i = digits - 1; i >= 0; i--)
            {
                destination[at + i] = (byte)('0' + (fraction % 10));
                fraction /= 10;
            }

            at += digits;
        }

        if (utc)
        {
            destination[at++] = (byte)'Z';
        }

        written = at;
        return true;
    }

    private static void WriteDate(Span<byte> destination, int year, int month, int day)
    {
        WriteTwoDigits(destination, year / 100);
        WriteTwoDigits(destination[2..], year % 100);
        destination[4] = (byte)'-';
        WriteTwoDigits(destination[5..], month);
        destination[7] = (byte)'-';
        WriteTwoDigits(destination[8..], day);
    }

    private static void WriteTwoDigits(Span<byte> destination, int value)
    {
        destination[1] = (byte)('0' + (value % 10));
        destination[0] = (byte)('0' + (value / 10));
    }

    private static bool FormatBoolean(object value, Column column, Span<byte> destination, out int written)
    {
        if (value is not bool b)
        {
            throw Mismatch(value, column);
        }

        var text = b ? "true"u8 : "false"u8;
        text.CopyTo(destination);
        written = text.Length;
        return true;
    }

    public static DateOnly ToDate(object value, Column column) => value switch
    {
        DateOnly d => d,
        DateTime dt => DateOnly.FromDateTime(dt),
        _ => throw Mismatch(value, column),
    };

    public static DateTime ToTimestamp(object value, Column column) => value switch
    {
        DateTime dt => dt,
        DateTimeOffset dto => dto.DateTime,
        _ => throw Mismatch(value, column),
    };

    public static DateTime ToUtc(object value, Column column) => value switch
    {
        DateTimeOffset dto => dto.UtcDateTime,
        DateTime { Kind: DateTimeKind.Local } dt => dt.ToUniversalTime(),
        DateTime dt => dt, // Utc, or Unspecified which sources use for "already UTC"
        _ => throw Mismatch(value, column),
    };

    public static RowValueException Mismatch(object value, Column column) => RowBatch.Mismatch(value, column);
}
