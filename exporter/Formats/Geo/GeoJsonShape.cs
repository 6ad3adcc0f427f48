namespace BulkExport.Exporter.Formats.Geo;

/// <summary>
/// Recognises the GeoJSON PostGIS's <c>ST_AsGeoJSON</c> writes for a geometry in EPSG:4326 (no
/// <c>crs</c> member) and for most others: exactly <c>{"type":"Name","coordinates":C}</c> with no
/// whitespace, where C is nested arrays of JSON numbers. Such a value is valid JSON (checked here
/// against JSON's number grammar, not assumed), so a writer can embed it without running a JSON
/// reader over it, and its canonical form (README, "Canonical row bytes") is
/// <c>{"coordinates":C,"type":"Name"}</c>: members in code-point order, the array unchanged since it
/// has no whitespace and numbers keep their text. Anything else (a crs or bbox member, a
/// GeometryCollection, whitespace, a depth above <see cref="MaxDepth"/>) is not recognised and the
/// caller takes its general path, so what is accepted or refused does not change.
/// </summary>
internal static class GeoJsonShape
{
    // MultiPolygon coordinates nest 4 deep; well under Utf8JsonReader's default limit of 64.
    private const int MaxDepth = 8;

    private static ReadOnlySpan<byte> TypePrefix => "{\"type\":\""u8;

    private static ReadOnlySpan<byte> CoordinatesMember => "\",\"coordinates\":"u8;

    /// <summary>True when <paramref name="geoJson"/> has the shape above; then the type name (without quotes) and the coordinates' bytes.</summary>
    public static bool TryParse(ReadOnlySpan<byte> geoJson, out ReadOnlySpan<byte> type, out ReadOnlySpan<byte> coordinates)
    {
        type = default;
        coordinates = default;
        if (!geoJson.StartsWith(TypePrefix) || geoJson.Length < TypePrefix.Length + CoordinatesMember.Length + 3 || geoJson[^1] != (byte)'}')
        {
            return false;
        }

        var rest = geoJson[TypePrefix.Length..];
        var nameLength = 0;
        while (nameLength < rest.Length && char.IsAsciiLetter((char)rest[nameLength]))
        {
            nameLength++;
        }

        if (nameLength == 0 || !rest[nameLength..].StartsWith(CoordinatesMember))
        {
            return false;
        }

        var array = rest[(nameLength + CoordinatesMember.Length)..^1];
        if (!IsNumberArray(array))
        {
            return false;
        }

        type = rest[..nameLength];
        coordinates = array;
        return true;
    }

    /// <summary>Writes the canonical bytes of a value <see cref="TryParse"/> recognised.</summary>
    public static void WriteCanonical(ReadOnlySpan<byte> type, ReadOnlySpan<byte> coordinates, System.Buffers.IBufferWriter<byte> output)
    {
        var length = "{\"coordinates\":"u8.Length + coordinates.Length + ",\"type\":\""u8.Length + type.Length + 2;
        var span = output.GetSpan(length);
        var at = 0;
        Append(span, ref at, "{\"coordinates\":"u8);
        Append(span, ref at, coordinates);
        Append(span, ref at, ",\"type\":\""u8);
        Append(span, ref at, type);
        Append(span, ref at, "\"}"u8);
        output.Advance(at);
    }

    private static void Append(Span<byte> span, ref int at, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(span[at..]);
        at += bytes.Length;
    }

    /// <summary>
    /// A JSON array whose elements are numbers or such arrays, no whitespace anywhere:
    /// <c>array = "[" [ element *( "," element ) ] "]"</c>, numbers per RFC 8259.
    /// </summary>
    internal static bool IsNumberArray(ReadOnlySpan<byte> s)
    {
        var p = 0;
        return Array(s, ref p, 1) && p == s.Length;
    }

    private static bool Array(ReadOnlySpan<byte> s, ref int p, int depth)
    {
        if (depth > MaxDepth || p >= s.Length || s[p] != (byte)'[')
        {
            return false;
        }

        p++;
        if (p < s.Length && s[p] == (byte)']')
        {
            p++;
            return true;
        }

        while (true)
        {
            if (p >= s.Length)
            {
                return false;
            }

            if (!(s[p] == (byte)'[' ? Array(s, ref p, depth + 1) : Number(s, ref p)))
            {
                return false;
            }

            if (p >= s.Length)
            {
                return false;
            }

            if (s[p] == (byte)']')
            {
                p++;
                return true;
            }

            if (s[p] != (byte)',')
            {
                return false;
            }

            p++;
        }
    }

    // number = [ "-" ] int [ frac ] [ exp ]; int = "0" / digit1-9 *digit; frac = "." 1*digit; exp = ("e"/"E") ["-"/"+"] 1*digit
    private static bool Number(ReadOnlySpan<byte> s, ref int p)
    {
        if (p < s.Length && s[p] == (byte)'-')
        {
            p++;
        }

        if (p >= s.Length || !char.IsAsciiDigit((char)s[p]))
        {
            return false;
        }

        if (s[p] == (byte)'0')
        {
            p++;
        }
        else
        {
            Digits(s, ref p);
        }

        if (p < s.Length && s[p] == (byte)'.')
        {
            p++;
            if (Digits(s, ref p) == 0)
            {
                return false;
            }
        }

        if (p < s.Length && (s[p] == (byte)'e' || s[p] == (byte)'E'))
        {
            p++;
            if (p < s.Length && (s[p] == (byte)'+' || s[p] == (byte)'-'))
            {
                p++;
            }

            if (Digits(s, ref p) == 0)
            {
                return false;
            }
        }

        return true;
    }

    private static int Digits(ReadOnlySpan<byte> s, ref int p)
    {
        var start = p;
        while (p < s.Length && char.IsAsciiDigit((char)s[p]))
        {
            p++;
        }

        return p - start;
    }
}
