using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace BulkExport.Publishing.Layout;

/// <summary>
/// The content fingerprint of a set of rows: the sum of SHA-256(canonical row bytes) over the rows,
/// each digest read as a 256-bit big-endian integer, modulo 2^256. Order-independent and additive,
/// so a mirror can check its copy against a manifest or catalog row (README, "Content fingerprints").
/// </summary>
internal struct FingerprintSum
{
    // Four 64-bit limbs, most significant first, matching the big-endian reading of a digest.
    private ulong _a;
    private ulong _b;
    private ulong _c;
    private ulong _d;

    public long Count { get; private set; }

    public void Add(ReadOnlySpan<byte> sha256)
    {
        AddLimbs(
            BinaryPrimitives.ReadUInt64BigEndian(sha256),
            BinaryPrimitives.ReadUInt64BigEndian(sha256[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(sha256[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(sha256[24..]));
        Count++;
    }

    public void Add(FingerprintSum other)
    {
        AddLimbs(other._a, other._b, other._c, other._d);
        Count += other.Count;
    }

    private void AddLimbs(ulong a, ulong b, ulong c, ulong d)
    {
        _d += d;
        var carry = _d < d ? 1UL : 0UL;
        _c += c;
        var carryC = _c < c ? 1UL : 0UL;
        _c += carry;
        carryC += _c < carry ? 1UL : 0UL;
        _b += b;
        var carryB = _b < b ? 1UL : 0UL;
        _b += carryC;
        carryB += _b < carryC ? 1UL : 0UL;
        _a += a + carryB;
    }

    /// <summary>64 lowercase hex digits.</summary>
    public readonly string ToHex()
    {
        Span<byte> bytes = stackalloc byte[32];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, _a);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[24..], _d);
        return Convert.ToHexStringLower(bytes);
    }

    public static FingerprintSum Parse(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        if (bytes.Length != 32)
        {
            throw new FormatException($"a fingerprint has 64 hex digits, not {hex.Length}");
        }

        var sum = default(FingerprintSum);
        sum.Add(bytes);
        sum.Count = 0;
        return sum;
    }
}

/// <summary>
/// The canonical bytes of a published JSON value (README, "Canonical row bytes"): objects with their
/// members sorted by name in code-point order, no whitespace, numbers exactly as their text in the
/// file, strings escaped minimally. What Python's
/// <c>json.dumps(v, ensure_ascii=False, separators=(",", ":"), sort_keys=True)</c> writes, except
/// that numbers keep their published spelling.
/// </summary>
internal static class CanonicalJson
{
    private static readonly SearchValues<byte> NeedsEscape = SearchValues.Create([.. Enumerable.Range(0, 0x20).Select(i => (byte)i), (byte)'"', (byte)'\\']);

    /// <summary>Canonical bytes of the one JSON value in <paramref name="json"/> (a row object, a nested value).</summary>
    public static void Write(ReadOnlySpan<byte> json, IBufferWriter<byte> output)
    {
        var reader = new Utf8JsonReader(json);
        if (!reader.Read())
        {
            throw new JsonException("no JSON value");
        }

        WriteValue(ref reader, output);
    }

    /// <summary>Writes the value the reader is on (moving past it).</summary>
    public static void WriteValue(ref Utf8JsonReader reader, IBufferWriter<byte> output)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                WriteObject(ref reader, output);
                break;
            case JsonTokenType.StartArray:
                output.Write("["u8);
                var first = true;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (!first)
                    {
                        output.Write(","u8);
                    }

                    first = false;
                    WriteValue(ref reader, output);
                }

                output.Write("]"u8);
                break;
            case JsonTokenType.String:
                WriteString(Unescaped(ref reader), output);
                break;
            case JsonTokenType.Number:
                output.Write(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan);
                break;
            case JsonTokenType.True:
                output.Write("true"u8);
                break;
            case JsonTokenType.False:
                output.Write("false"u8);
                break;
            case JsonTokenType.Null:
                output.Write("null"u8);
                break;
            default:
                throw new JsonException($"unexpected {reader.TokenType}");
        }
    }

    private static ReadOnlySpan<byte> Unescaped(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan;
        }

        var buffer = new byte[reader.ValueSpan.Length];
        var n = reader.CopyString(buffer);
        return buffer.AsSpan(0, n);
    }

    private static void WriteObject(ref Utf8JsonReader reader, IBufferWriter<byte> output)
    {
        // Members are few (a JSON column's object, a GeoJSON geometry): names and canonical values go
        // into one pooled buffer, then are written in name order. A repeated name keeps its last
        // value, as JSON parsers that build maps do. Pooled because every row with a JSON or geometry
        // column passes here (the digest is computed for every row).
        var scratch = ObjectScratch.Rent();
        try
        {
            var buffer = scratch.Buffer;
            var members = scratch.Members;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var nameStart = buffer.WrittenCount;
                var name = Unescaped(ref reader);
                buffer.Write(name);
                var valueStart = buffer.WrittenCount;
                reader.Read();
                WriteValue(ref reader, buffer);
                members.Add(new Member(nameStart, valueStart - nameStart, valueStart, buffer.WrittenCount - valueStart, members.Count));
            }

            var bytes = buffer.WrittenMemory;
            // Ordinal UTF-8 byte order is code-point order; equal names keep their input order.
            members.Sort((x, y) =>
            {
                var order = bytes.Span.Slice(x.NameStart, x.NameLength).SequenceCompareTo(bytes.Span.Slice(y.NameStart, y.NameLength));
                return order != 0 ? order : x.Index.CompareTo(y.Index);
            });
            output.Write("{"u8);
            var first = true;
            for (var i = 0; i < members.Count; i++)
            {
                var m = members[i];
                var name = bytes.Span.Slice(m.NameStart, m.NameLength);
                if (i + 1 < members.Count && name.SequenceEqual(bytes.Span.Slice(members[i + 1].NameStart, members[i + 1].NameLength)))
                {
                    continue;
                }

                if (!first)
                {
                    output.Write(","u8);
                }

                first = false;
                WriteString(name, output);
                output.Write(":"u8);
                output.Write(bytes.Span.Slice(m.ValueStart, m.ValueLength));
            }

            output.Write("}"u8);
        }
        finally
        {
            ObjectScratch.Return(scratch);
        }
    }

    private readonly record struct Member(int NameStart, int NameLength, int ValueStart, int ValueLength, int Index);

    /// <summary>Per-thread buffers for nested objects, one per nesting level in use.</summary>
    private sealed class ObjectScratch
    {
        [ThreadStatic]
        private static Stack<ObjectScratch>? t_free;

        public ArrayBufferWriter<byte> Buffer { get; } = new(256);

        public List<Member> Members { get; } = [];

        public static ObjectScratch Rent() => t_free is { Count: > 0 } free ? free.Pop() : new ObjectScratch();

        public static void Return(ObjectScratch scratch)
        {
            scratch.Buffer.ResetWrittenCount();
            scratch.Members.Clear();
            (t_free ??= new Stack<ObjectScratch>()).Push(scratch);
        }
    }

    public static void WriteString(string text, IBufferWriter<byte> output)
    {
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (max <= 512)
        {
            Span<byte> utf8 = stackalloc byte[max];
            WriteString(utf8[..Encoding.UTF8.GetBytes(text, utf8)], output);
            return;
        }

        var rented = ArrayPool<byte>.Shared.Rent(max);
        try
        {
            WriteString(rented.AsSpan(0, Encoding.UTF8.GetBytes(text, rented)), output);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>A JSON string: <c>\" \\ \b \f \n \r \t</c>, other controls as <c>\u00xx</c>, everything else as is.</summary>
    public static void WriteString(ReadOnlySpan<byte> utf8, IBufferWriter<byte> output)
    {
        output.Write("\""u8);
        while (true)
        {
            var at = utf8.IndexOfAny(NeedsEscape);
            if (at < 0)
            {
                output.Write(utf8);
                break;
            }

            output.Write(utf8[..at]);
            var b = utf8[at];
            ReadOnlySpan<byte> escape = b switch
            {
                (byte)'"' => "\\\""u8,
                (byte)'\\' => "\\\\"u8,
                (byte)'\b' => "\\b"u8,
                (byte)'\f' => "\\f"u8,
                (byte)'\n' => "\\n"u8,
                (byte)'\r' => "\\r"u8,
                (byte)'\t' => "\\t"u8,
                _ => default,
            };
            if (escape.IsEmpty)
            {
                var span = output.GetSpan(6);
                "\\u00"u8.CopyTo(span);
                span[4] = HexDigit(b >> 4);
                span[5] = HexDigit(b & 0xF);
                output.Advance(6);
            }
            else
            {
                output.Write(escape);
            }

            utf8 = utf8[(at + 1)..];
        }

        output.Write("\""u8);
    }

    private static byte HexDigit(int n) => (byte)(n < 10 ? '0' + n : 'a' + n - 10);

    /// <summary>SHA-256 of the canonical bytes of one published row (verification and tests).</summary>
    public static byte[] RowDigest(ReadOnlySpan<byte> rowJson)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        Write(rowJson, buffer);
        return SHA256.HashData(buffer.WrittenSpan);
    }

    /// <summary>Canonical text of a value, for identities: <c>[v1,v2,…]</c> of the identity columns.</summary>
    public static string Format(ReadOnlySpan<byte> json)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        Write(json, buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
