using System.Buffers;
using System.Text.Unicode;
using BulkExport.Publishing.Layout;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// The canonical bytes of a JSON value (<see cref="CanonicalJson"/>) in one pass without a JSON reader, for
/// the common case where the value is canonical already but for white space: PostgreSQL's jsonb text
/// (<c>{"i": 1, "ok": true}</c>) has members in length-then-bytes order, which is code-point order
/// whenever shorter names sort first (most objects), and escapes strings the canonical way. Anything
/// else (members out of code-point order or repeated, escapes spelled otherwise, names with escapes,
/// invalid UTF-8, malformed JSON, deep nesting) is refused, and the caller canonicalises the whole value
/// with <see cref="CanonicalJson.Write"/>, so the bytes are always that canonicaliser's.
/// </summary>
internal static class CanonicalJsonFastPath
{
    // Deeper values take the general path (whose reader allows 64 levels).
    private const int MaxDepth = 32;

    private static readonly SearchValues<byte> StringSpecial = SearchValues.Create([.. Enumerable.Range(0, 0x20).Select(i => (byte)i), (byte)'"', (byte)'\\']);

    /// <summary>Writes the canonical bytes of <paramref name="json"/>: this fast path when it applies, otherwise the general canonicaliser.</summary>
    public static void Write(ReadOnlySpan<byte> json, IBufferWriter<byte> output)
    {
        // The canonical form of a value this path accepts is the value less its white space: never longer.
        var span = output.GetSpan(json.Length);
        if (TryWrite(json, span, out var written))
        {
            output.Advance(written);
            return;
        }

        CanonicalJson.Write(json, output);
    }

    /// <summary>
    /// Whether <paramref name="json"/> is one well-formed JSON value by this path's stricter rules (true only
    /// for text <see cref="TryWrite"/> accepts), so a writer can embed it without parsing it again; false says
    /// nothing (validate it the usual way).
    /// </summary>
    public static bool IsWellFormed(ReadOnlySpan<byte> json)
    {
        if (json.Length > 1024)
        {
            return false;
        }

        Span<byte> scratch = stackalloc byte[json.Length];
        return TryWrite(json, scratch, out _);
    }

    /// <summary>
    /// The canonical bytes of <paramref name="json"/> into <paramref name="destination"/> (at least as long
    /// as the input) when the value is canonical but for white space; false otherwise (the destination's
    /// content is then undefined).
    /// </summary>
    public static bool TryWrite(ReadOnlySpan<byte> json, Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < json.Length || !Utf8.IsValid(json))
        {
            return false;
        }

        // Per open container: whether it is an object, and its previous member name (start, length in json).
        Span<bool> isObject = stackalloc bool[MaxDepth];
        Span<int> nameStart = stackalloc int[MaxDepth];
        Span<int> nameLength = stackalloc int[MaxDepth];
        var depth = 0;
        var at = SkipSpace(json, 0);
        var to = 0;
        while (true)
        {
            // A value starts at `at`.
            if (at >= json.Length)
            {
                return false;
            }

            var b = json[at];
            if (b is (byte)'{' or (byte)'[')
            {
                if (depth == MaxDepth)
                {
                    return false;
                }

                destination[to++] = b;
                at = SkipSpace(json, at + 1);
                if (at >= json.Length)
                {
                    return false;
                }

                var close = b == (byte)'{' ? (byte)'}' : (byte)']';
                if (json[at] == close)
                {
                    destination[to++] = close;
                    at++;
                }
                else
                {
                    isObject[depth] = b == (byte)'{';
                    nameLength[depth] = -1;
                    depth++;
                    if (b == (byte)'{' && !Member(json, ref at, destination, ref to, ref nameStart[depth - 1], ref nameLength[depth - 1]))
                    {
                        return false;
                    }

                    continue;
                }
            }
            else if (b == (byte)'"')
            {
                if (!String(json, ref at, destination, ref to, name: false))
                {
                    return false;
                }
            }
            else if (b is (byte)'-' or (>= (byte)'0' and <= (byte)'9'))
            {
                var end = NumberEnd(json, at);
                if (end < 0)
                {
                    return false;
                }

                json[at..end].CopyTo(destination[to..]);
                to += end - at;
                at = end;
            }
            else if (Literal(json, at, "true"u8) || Literal(json, at, "false"u8) || Literal(json, at, "null"u8))
            {
                var length = b == (byte)'f' ? 5 : 4;
                json.Slice(at, length).CopyTo(destination[to..]);
                to += length;
                at += length;
            }
            else
            {
                return false;
            }

            // After a value: a separator, the end of containers, or the end of the text.
            while (true)
            {
                at = SkipSpace(json, at);
                if (depth == 0)
                {
                    if (at != json.Length)
                    {
                        return false;
                    }

                    written = to;
                    return true;
                }

                if (at >= json.Length)
                {
                    return false;
                }

                var next = json[at];
                var close = isObject[depth - 1] ? (byte)'}' : (byte)']';
                if (next == close)
                {
                    destination[to++] = close;
                    at++;
                    depth--;
                    continue;
                }

                if (next != (byte)',')
                {
                    return false;
                }

                destination[to++] = (byte)',';
                at = SkipSpace(json, at + 1);
                if (isObject[depth - 1] && !Member(json, ref at, destination, ref to, ref nameStart[depth - 1], ref nameLength[depth - 1]))
                {
                    return false;
                }

                break;
            }
        }
    }

    /// <summary>A member's name and colon, the name after the previous one in code-point order; leaves `at` on the value.</summary>
    private static bool Member(ReadOnlySpan<byte> json, ref int at, Span<byte> destination, ref int to, ref int previousStart, ref int previousLength)
    {
        if (at >= json.Length || json[at] != (byte)'"')
        {
            return false;
        }

        var start = at + 1;
        if (!String(json, ref at, destination, ref to, name: true))
        {
            return false;
        }

        var length = at - 1 - start;
        // Strictly increasing: the canonical order, and no repeated name (whose last value would win).
        if (previousLength >= 0 && json.Slice(start, length).SequenceCompareTo(json.Slice(previousStart, previousLength)) <= 0)
        {
            return false;
        }

        previousStart = start;
        previousLength = length;
        at = SkipSpace(json, at);
        if (at >= json.Length || json[at] != (byte)':')
        {
            return false;
        }

        destination[to++] = (byte)':';
        at = SkipSpace(json, at + 1);
        return true;
    }

    /// <summary>
    /// A string whose escapes are the canonical ones (<c>\" \\ \b \f \n \r \t</c>, other controls as
    /// lowercase <c>\u00xx</c>), copied; a name may have none (its escaped bytes would not sort as its text).
    /// </summary>
    private static bool String(ReadOnlySpan<byte> json, ref int at, Span<byte> destination, ref int to, bool name)
    {
        var start = at;
        var i = at + 1;
        while (true)
        {
            var found = json[i..].IndexOfAny(StringSpecial);
            if (found < 0)
            {
                return false;
            }

            i += found;
            var b = json[i];
            if (b == (byte)'"')
            {
                break;
            }

            if (b != (byte)'\\' || name || i + 1 >= json.Length)
            {
                // A raw control character (not JSON), or an escape in a name.
                return false;
            }

            var e = json[i + 1];
            if (e is (byte)'"' or (byte)'\\' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t')
            {
                i += 2;
                continue;
            }

            if (e != (byte)'u' || i + 6 > json.Length || json[i + 2] != (byte)'0' || json[i + 3] != (byte)'0' || json[i + 4] is not ((byte)'0' or (byte)'1'))
            {
                return false;
            }

            var low = json[i + 5];
            var value = ((json[i + 4] - '0') << 4) | (low is >= (byte)'0' and <= (byte)'9' ? low - '0' : low is >= (byte)'a' and <= (byte)'f' ? low - 'a' + 10 : -1000);
            // Those with a short escape are written short; uppercase hex is not the canonical spelling.
            if (value < 0 || value is 0x08 or 0x09 or 0x0A or 0x0C or 0x0D)
            {
                return false;
            }

            i += 6;
        }

        json[start..(i + 1)].CopyTo(destination[to..]);
        to += i + 1 - start;
        at = i + 1;
        return true;
    }

    /// <summary>The end of the JSON number at <paramref name="at"/> (RFC 8259's grammar), or -1.</summary>
    private static int NumberEnd(ReadOnlySpan<byte> json, int at)
    {
        var i = at;
        if (json[i] == (byte)'-')
        {
            i++;
        }

        if (i >= json.Length)
        {
            return -1;
        }

        if (json[i] == (byte)'0')
        {
            i++;
        }
        else if (json[i] is >= (byte)'1' and <= (byte)'9')
        {
            i = Digits(json, i);
        }
        else
        {
            return -1;
        }

        if (i < json.Length && json[i] == (byte)'.')
        {
            var fraction = i + 1;
            i = Digits(json, fraction);
            if (i == fraction)
            {
                return -1;
            }
        }

        if (i < json.Length && json[i] is (byte)'e' or (byte)'E')
        {
            i++;
            if (i < json.Length && json[i] is (byte)'+' or (byte)'-')
            {
                i++;
            }

            var exponent = i;
            i = Digits(json, exponent);
            if (i == exponent)
            {
                return -1;
            }
        }

        // A number ends at white space or a structural character, never at another letter or digit.
        return i == json.Length || json[i] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)',' or (byte)']' or (byte)'}' ? i : -1;
    }

    private static int Digits(ReadOnlySpan<byte> json, int i)
    {
        while (i < json.Length && json[i] is >= (byte)'0' and <= (byte)'9')
        {
            i++;
        }

        return i;
    }

    private static bool Literal(ReadOnlySpan<byte> json, int at, ReadOnlySpan<byte> literal)
    {
        if (!json[at..].StartsWith(literal))
        {
            return false;
        }

        var end = at + literal.Length;
        return end == json.Length || json[end] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)',' or (byte)']' or (byte)'}';
    }

    private static int SkipSpace(ReadOnlySpan<byte> json, int at)
    {
        while (at < json.Length && json[at] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
        {
            at++;
        }

        return at;
    }
}
