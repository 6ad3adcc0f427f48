using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Pipeline;

/// <summary>
/// A compact, exact binary form of a row: what the delta computation hashes (so any change of any
/// value changes the hash) and what the external sort spools to disk and reads back.
/// </summary>
internal static class RowCodec
{
    private enum Tag : byte
    {
        Null,
        Text,
        Integer,
        Decimal,
        Float,
        False,
        True,
        Date,
        Timestamp,
        TimestampTz,
        Uuid,
        Json,
        Bytes,
        Geometry,
        Array,
    }

    public static void Encode(object?[] row, IBufferWriter<byte> output)
    {
        WriteVarint(output, (ulong)row.Length);
        foreach (var value in row)
        {
            EncodeValue(value, output);
        }
    }

    /// <summary>A row seen through a view, from its typed getters: the same bytes as for its boxed values.</summary>
    public static void Encode(IRowView row, IBufferWriter<byte> output)
    {
        if (row is ObjectRowView boxed)
        {
            Encode(boxed.Values, output);
            return;
        }

        var width = row.Columns.Count;
        WriteVarint(output, (ulong)width);
        for (var i = 0; i < width; i++)
        {
            if (row.IsNull(i))
            {
                WriteTag(output, Tag.Null);
                continue;
            }

            switch (row.Columns[i].Kind)
            {
                case ColumnKind.Text:
                    WriteTag(output, Tag.Text);
                    WriteBytes(output, row.GetUtf8(i));
                    break;
                case ColumnKind.Integer:
                    WriteTag(output, Tag.Integer);
                    WriteInt64(output, row.GetInt64(i));
                    break;
                case ColumnKind.Decimal:
                    WriteTag(output, Tag.Decimal);
                    WriteBytes(output, row.GetUtf8(i));
                    break;
                case ColumnKind.Float:
                    WriteTag(output, Tag.Float);
                    WriteInt64(output, BitConverter.DoubleToInt64Bits(row.GetDouble(i)));
                    break;
                case ColumnKind.Boolean:
                    WriteTag(output, row.GetBoolean(i) ? Tag.True : Tag.False);
                    break;
                case ColumnKind.Date:
                    WriteTag(output, Tag.Date);
                    WriteInt64(output, row.GetDate(i).DayNumber);
                    break;
                case ColumnKind.Timestamp:
                    WriteTag(output, Tag.Timestamp);
                    WriteInt64(output, row.GetTimestamp(i).Ticks);
                    break;
                case ColumnKind.TimestampTz:
                    WriteTag(output, Tag.TimestampTz);
                    WriteInt64(output, row.GetTimestampTz(i).UtcTicks);
                    break;
                case ColumnKind.Uuid:
                    WriteTag(output, Tag.Uuid);
                    row.GetGuid(i).TryWriteBytes(output.GetSpan(16), bigEndian: true, out _);
                    output.Advance(16);
                    break;
                case ColumnKind.Json:
                    WriteTag(output, Tag.Json);
                    WriteBytes(output, row.GetUtf8(i));
                    break;
                case ColumnKind.Bytes:
                    WriteTag(output, Tag.Bytes);
                    WriteBytes(output, row.GetBytes(i));
                    break;
                case ColumnKind.Geometry:
                    // The persisted spelling of the boxed case below: GeoJSON, WKT (length-prefixed UTF-8), SRID or -1.
                    var geometry = row.GetGeometryUtf8(i);
                    WriteTag(output, Tag.Geometry);
                    WriteBytes(output, geometry.GeoJson);
                    WriteBytes(output, geometry.Wkt);
                    WriteInt64(output, geometry.Srid ?? -1);
                    break;
                case ColumnKind.Array when row.TryGetInt64Array(i, out var integers):
                    // The boxed encoding of an object?[] of longs: tag, count, a tagged int64 per element.
                    WriteTag(output, Tag.Array);
                    WriteVarint(output, (ulong)integers.Length);
                    foreach (var integer in integers)
                    {
                        WriteTag(output, Tag.Integer);
                        WriteInt64(output, integer);
                    }

                    break;
                default:
                    EncodeValue(row.GetValue(i), output);
                    break;
            }
        }
    }

    private static void WriteBytes(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        WriteVarint(output, (ulong)bytes.Length);
        output.Write(bytes);
    }

    private static void EncodeValue(object? value, IBufferWriter<byte> output)
    {
        switch (value)
        {
            case null:
                WriteTag(output, Tag.Null);
                break;
            case string s:
                WriteTag(output, Tag.Text);
                WriteString(output, s);
                break;
            case long l:
                WriteTag(output, Tag.Integer);
                WriteInt64(output, l);
                break;
            case DecimalText d:
                WriteTag(output, Tag.Decimal);
                WriteString(output, d.Text);
                break;
            case double f:
                WriteTag(output, Tag.Float);
                WriteInt64(output, BitConverter.DoubleToInt64Bits(f));
                break;
            case bool b:
                WriteTag(output, b ? Tag.True : Tag.False);
                break;
            case DateOnly date:
                WriteTag(output, Tag.Date);
                WriteInt64(output, date.DayNumber);
                break;
            case DateTime dt:
                WriteTag(output, Tag.Timestamp);
                WriteInt64(output, dt.Ticks);
                break;
            case DateTimeOffset dto:
                WriteTag(output, Tag.TimestampTz);
                WriteInt64(output, dto.UtcTicks);
                break;
            case Guid g:
                WriteTag(output, Tag.Uuid);
                g.TryWriteBytes(output.GetSpan(16), bigEndian: true, out _);
                output.Advance(16);
                break;
            case RawJson j:
                WriteTag(output, Tag.Json);
                WriteString(output, j.Json);
                break;
            case byte[] bytes:
                WriteTag(output, Tag.Bytes);
                WriteVarint(output, (ulong)bytes.Length);
                output.Write(bytes);
                break;
            case GeometryValue geometry:
                WriteTag(output, Tag.Geometry);
                WriteString(output, geometry.GeoJson);
                WriteString(output, geometry.Wkt);
                WriteInt64(output, geometry.Srid ?? -1);
                break;
            case object?[] array:
                WriteTag(output, Tag.Array);
                Encode(array, output);
                break;
            case int i:
                WriteTag(output, Tag.Integer);
                WriteInt64(output, i);
                break;
            default:
                throw new ArgumentException($"value of type {value.GetType().Name} has no exporter representation", nameof(value));
        }
    }

    public static object?[] Decode(ReadOnlySpan<byte> data)
    {
        var row = Decode(ref data);
        return data.Length == 0 ? row : throw new InvalidDataException("trailing bytes after an encoded row");
    }

    private static object?[] Decode(ref ReadOnlySpan<byte> data)
    {
        var count = (int)ReadVarint(ref data);
        var row = new object?[count];
        for (var i = 0; i < count; i++)
        {
            var tag = (Tag)data[0];
            data = data[1..];
            row[i] = tag switch
            {
                Tag.Null => null,
                Tag.Text => ReadString(ref data),
                Tag.Integer => ReadInt64(ref data),
                Tag.Decimal => new DecimalText(ReadString(ref data)),
                Tag.Float => BitConverter.Int64BitsToDouble(ReadInt64(ref data)),
                Tag.False => false,
                Tag.True => true,
                Tag.Date => DateOnly.FromDayNumber((int)ReadInt64(ref data)),
                Tag.Timestamp => new DateTime(ReadInt64(ref data), DateTimeKind.Unspecified),
                Tag.TimestampTz => new DateTimeOffset(ReadInt64(ref data), TimeSpan.Zero),
                Tag.Uuid => ReadGuid(ref data),
                Tag.Json => new RawJson(ReadString(ref data)),
                Tag.Bytes => ReadBytes(ref data),
                Tag.Geometry => ReadGeometry(ref data),
                Tag.Array => Decode(ref data),
                _ => throw new InvalidDataException($"corrupt row encoding (tag {(byte)tag})"),
            };
        }

        return row;
    }

    private static Guid ReadGuid(ref ReadOnlySpan<byte> data)
    {
        var g = new Guid(data[..16], bigEndian: true);
        data = data[16..];
        return g;
    }

    private static byte[] ReadBytes(ref ReadOnlySpan<byte> data)
    {
        var n = (int)ReadVarint(ref data);
        var bytes = data[..n].ToArray();
        data = data[n..];
        return bytes;
    }

    private static GeometryValue ReadGeometry(ref ReadOnlySpan<byte> data)
    {
        var geoJson = ReadString(ref data);
        var wkt = ReadString(ref data);
        var srid = ReadInt64(ref data);
        return new GeometryValue(geoJson, wkt, srid < 0 ? null : (int)srid);
    }

    private static void WriteTag(IBufferWriter<byte> output, Tag tag)
    {
        output.GetSpan(1)[0] = (byte)tag;
        output.Advance(1);
    }

    private static void WriteInt64(IBufferWriter<byte> output, long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(output.GetSpan(8), value);
        output.Advance(8);
    }

    private static long ReadInt64(ref ReadOnlySpan<byte> data)
    {
        var value = BinaryPrimitives.ReadInt64LittleEndian(data);
        data = data[8..];
        return value;
    }

    private static void WriteString(IBufferWriter<byte> output, string s)
    {
        var max = Encoding.UTF8.GetMaxByteCount(s.Length);
        var span = output.GetSpan(max + 5);
        var n = Encoding.UTF8.GetBytes(s, span[5..]);
        // Length first: the varint is written in front after the bytes are known.
        var lengthBytes = VarintLength((ulong)n);
        if (lengthBytes != 5)
        {
            span.Slice(5, n).CopyTo(span[lengthBytes..]);
        }

        WriteVarint(span, (ulong)n);
        output.Advance(lengthBytes + n);
    }

    private static string ReadString(ref ReadOnlySpan<byte> data)
    {
        var n = (int)ReadVarint(ref data);
        var s = Encoding.UTF8.GetString(data[..n]);
        data = data[n..];
        return s;
    }

    public static void WriteVarint(IBufferWriter<byte> output, ulong value)
    {
        var n = WriteVarint(output.GetSpan(10), value);
        output.Advance(n);
    }

    private static int WriteVarint(Span<byte> span, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[i++] = (byte)value;
        return i;
    }

    private static int VarintLength(ulong value)
    {
        var n = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            n++;
        }

        return n;
    }

    public static ulong ReadVarint(ref ReadOnlySpan<byte> data)
    {
        ulong value = 0;
        var shift = 0;
        for (var i = 0; ; i++)
        {
            var b = data[i];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                data = data[(i + 1)..];
                return value;
            }

            shift += 7;
            if (shift > 63)
            {
                throw new InvalidDataException("corrupt varint");
            }
        }
    }
}
