using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Pipeline;

/// <summary>
/// Encodes key values as bytes whose ordinal order is the key order: integers and times numerically,
/// text by UTF-8 bytes (PostgreSQL's C collation), uuids by their bytes. Delta state is sorted by
/// this encoding and merge-joined, and the encoding decodes back to the values (of the same CLR
/// type, so every format can write them) for tombstone rows.
/// </summary>
internal static class KeyEncoder
{
    private const byte NullTag = 0x01;
    private const byte FalseTag = 0x08;
    private const byte TrueTag = 0x09;
    private const byte IntegerTag = 0x10;
    private const byte DateTag = 0x11;
    private const byte TimestampTag = 0x12;
    private const byte TimestampTzTag = 0x13;
    private const byte FloatTag = 0x14;
    private const byte UuidTag = 0x20;
    private const byte TextTag = 0x30;
    private const byte DecimalTag = 0x31;
    private const byte BytesTag = 0x32;

    /// <summary>Kinds whose encoded order equals the order PostgreSQL's ORDER BY (COLLATE "C") gives.</summary>
    public static bool HasSourceCompatibleOrder(ColumnKind kind) =>
        kind is ColumnKind.Integer or ColumnKind.Text or ColumnKind.Uuid or ColumnKind.Date or ColumnKind.Timestamp or ColumnKind.TimestampTz or ColumnKind.Boolean;

    /// <summary>Kinds a key (or identity) column may have: every kind whose values compare as a whole.</summary>
    public static bool CanEncode(ColumnKind kind) =>
        kind is not (ColumnKind.Json or ColumnKind.Geometry or ColumnKind.Array);

    public static void Encode(object?[] row, ReadOnlySpan<int> keyIndexes, ArrayBufferWriter<byte> output)
    {
        foreach (var index in keyIndexes)
        {
            EncodeValue(row[index], output);
        }
    }

    /// <summary>The key of a row seen through a view, from its typed getters: the same bytes as for its boxed values.</summary>
    public static void Encode(IRowView row, ReadOnlySpan<int> keyIndexes, ArrayBufferWriter<byte> output)
    {
        if (row is ObjectRowView boxed)
        {
            Encode(boxed.Values, keyIndexes, output);
            return;
        }

        foreach (var index in keyIndexes)
        {
            if (row.IsNull(index))
            {
                Put(output, NullTag);
                continue;
            }

            switch (row.Columns[index].Kind)
            {
                case ColumnKind.Boolean:
                    Put(output, row.GetBoolean(index) ? TrueTag : FalseTag);
                    break;
                case ColumnKind.Integer:
                    PutInt64(output, IntegerTag, row.GetInt64(index));
                    break;
                case ColumnKind.Date:
                    PutInt64(output, DateTag, row.GetDate(index).DayNumber);
                    break;
                case ColumnKind.Timestamp:
                    PutInt64(output, TimestampTag, row.GetTimestamp(index).Ticks);
                    break;
                case ColumnKind.TimestampTz:
                    PutInt64(output, TimestampTzTag, row.GetTimestampTz(index).UtcTicks);
                    break;
                case ColumnKind.Float:
                    var bits = BitConverter.DoubleToInt64Bits(row.GetDouble(index));
                    PutInt64(output, FloatTag, bits < 0 ? ~bits ^ long.MinValue : bits);
                    break;
                case ColumnKind.Decimal:
                    PutBytes(output, DecimalTag, row.GetUtf8(index));
                    break;
                case ColumnKind.Bytes:
                    PutBytes(output, BytesTag, row.GetBytes(index));
                    break;
                case ColumnKind.Uuid:
                    Put(output, UuidTag);
                    row.GetGuid(index).TryWriteBytes(output.GetSpan(16), bigEndian: true, out _);
                    output.Advance(16);
                    break;
                case ColumnKind.Text:
                    PutBytes(output, TextTag, row.GetUtf8(index));
                    break;
                default:
                    // Refused at validation (EntityLayout.Resolve); reaching here is a bug, not bad data.
                    throw new ArgumentException($"a key value of kind {row.Columns[index].Kind} cannot be encoded", nameof(row));
            }
        }
    }

    private static void EncodeValue(object? value, ArrayBufferWriter<byte> output)
    {
        switch (value)
        {
            case null:
                Put(output, NullTag);
                break;
            case bool b:
                Put(output, b ? TrueTag : FalseTag);
                break;
            case long l:
                PutInt64(output, IntegerTag, l);
                break;
            case DateOnly d:
                PutInt64(output, DateTag, d.DayNumber);
                break;
            case DateTime dt:
                PutInt64(output, TimestampTag, dt.Ticks);
                break;
            case DateTimeOffset dto:
                PutInt64(output, TimestampTzTag, dto.UtcTicks);
                break;
            case double f:
                // Order-preserving: flip all bits of negatives, the sign bit of the rest.
                var bits = BitConverter.DoubleToInt64Bits(f);
                PutInt64(output, FloatTag, bits < 0 ? ~bits ^ long.MinValue : bits);
                break;
            case DecimalText d:
                PutText(output, DecimalTag, d.Text);
                break;
            case byte[] bytes:
                PutBytes(output, BytesTag, bytes);
                break;
            case int i:
                PutInt64(output, IntegerTag, i);
                break;
            case Guid g:
                Put(output, UuidTag);
                g.TryWriteBytes(output.GetSpan(16), bigEndian: true, out _);
                output.Advance(16);
                break;
            case string s:
                PutText(output, TextTag, s);
                break;
            default:
                // Refused at validation (EntityLayout.Resolve); reaching here is a bug, not bad data.
                throw new ArgumentException($"a key value of type {value.GetType().Name} cannot be encoded", nameof(value));
        }
    }

    /// <summary>A key value as error messages show it.</summary>
    public static string Describe(object? value) => value switch
    {
        null => "null",
        byte[] b => "\\x" + Convert.ToHexStringLower(b),
        DateTimeOffset d => d.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    public static object?[] Decode(ReadOnlySpan<byte> key, int count)
    {
        var values = new object?[count];
        for (var i = 0; i < count; i++)
        {
            var tag = key[0];
            key = key[1..];
            switch (tag)
            {
                case NullTag:
                    values[i] = null;
                    break;
                case FalseTag or TrueTag:
                    values[i] = tag == TrueTag;
                    break;
                case IntegerTag or DateTag or TimestampTag or TimestampTzTag or FloatTag:
                    var raw = (long)(BinaryPrimitives.ReadUInt64BigEndian(key) ^ 0x8000_0000_0000_0000UL);
                    key = key[8..];
                    values[i] = tag switch
                    {
                        IntegerTag => raw,
                        DateTag => DateOnly.FromDayNumber((int)raw),
                        TimestampTag => new DateTime(raw, DateTimeKind.Unspecified),
                        FloatTag => BitConverter.Int64BitsToDouble(raw >= 0 ? raw : ~(raw ^ long.MinValue)),
                        _ => new DateTimeOffset(raw, TimeSpan.Zero),
                    };
                    break;
                case UuidTag:
                    values[i] = new Guid(key[..16], bigEndian: true);
                    key = key[16..];
                    break;
                case TextTag:
                    values[i] = Encoding.UTF8.GetString(ReadBytes(ref key));
                    break;
                case DecimalTag:
                    values[i] = new DecimalText(Encoding.UTF8.GetString(ReadBytes(ref key)));
                    break;
                case BytesTag:
                    values[i] = ReadBytes(ref key);
                    break;
                default:
                    throw new InvalidDataException($"corrupt key encoding (tag 0x{tag:x2})");
            }
        }

        return values;
    }

    private static void Put(ArrayBufferWriter<byte> output, byte b)
    {
        output.GetSpan(1)[0] = b;
        output.Advance(1);
    }

    private static void PutInt64(ArrayBufferWriter<byte> output, byte tag, long value)
    {
        var span = output.GetSpan(9);
        span[0] = tag;
        BinaryPrimitives.WriteUInt64BigEndian(span[1..], (ulong)value ^ 0x8000_0000_0000_0000UL);
        output.Advance(9);
    }

    // 0x00 inside text is escaped as 00 FF and the text ends with 00 01, so a shorter text sorts
    // before any longer text it prefixes, exactly as byte-wise string comparison does.
    private static void PutText(ArrayBufferWriter<byte> output, byte tag, string text)
    {
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        var rented = ArrayPool<byte>.Shared.Rent(max);
        try
        {
            var n = Encoding.UTF8.GetBytes(text, rented);
            PutBytes(output, tag, rented.AsSpan(0, n));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static void PutBytes(ArrayBufferWriter<byte> output, byte tag, ReadOnlySpan<byte> bytes)
    {
        Put(output, tag);
        {
            while (bytes.Length > 0)
            {
                var zero = bytes.IndexOf((byte)0);
                var chunk = zero < 0 ? bytes : bytes[..zero];
                output.Write(chunk);
                if (zero < 0)
                {
                    break;
                }

                output.Write<byte>([0x00, 0xFF]);
                bytes = bytes[(zero + 1)..];
            }

            output.Write<byte>([0x00, 0x01]);
        }
    }

    private static byte[] ReadBytes(ref ReadOnlySpan<byte> key)
    {
        var buffer = new ArrayBufferWriter<byte>();
        while (true)
        {
            var zero = key.IndexOf((byte)0);
            if (zero < 0 || zero + 1 >= key.Length)
            {
                throw new InvalidDataException("corrupt key encoding (unterminated text)");
            }

            buffer.Write(key[..zero]);
            var marker = key[zero + 1];
            key = key[(zero + 2)..];
            if (marker == 0x01)
            {
                return buffer.WrittenSpan.ToArray();
            }

            buffer.Write<byte>([0x00]);
        }
    }
}
