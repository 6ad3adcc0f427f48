namespace BulkExport.Exporter.Rows;

/// <summary>
/// Recognises the GeoJSON PostGIS's <c>ST_AsGeoJSON</c> writes for a geometry in EPSG:4326 (no
/// <c>crs</c> member) and in any other SRID (its short <c>crs</c> member): exactly
/// <c>{"type":"Name","coordinates":C}</c> or
/// <c>{"type":"Name","crs":{"type":"name","properties":{"name":"AUTH:n"}},"coordinates":C}</c> with no
/// whitespace, where C is nested arrays of JSON numbers and the crs name is letters, digits and
/// <c>:._-</c>. Such a value is valid JSON (checked here against JSON's number grammar, not assumed), so
/// a writer can embed it without running a JSON reader over it, and its canonical form (README,
/// "Canonical row bytes") is <c>{"coordinates":C,"type":"Name"}</c> or
/// <c>{"coordinates":C,"crs":{"properties":{"name":"AUTH:n"},"type":"name"},"type":"Name"}</c>:
/// members in code-point order, the array unchanged since it has no whitespace and numbers keep their
/// text, the name needing no escape. Anything else (a bbox member, a GeometryCollection, whitespace, a
/// depth above <see cref="MaxDepth"/>) is not recognised and the caller takes its general path, so
/// what is accepted or refused does not change.
/// </summary>
/// <remarks>
/// The row digest and the GeoJSON and JSON encoders each need the recognition of the same value; a
/// <see cref="RowBatch"/> keeps it per value (<see cref="TryParse(IRowView, int, out ReadOnlySpan{byte}, out ReadOnlySpan{byte}, out ReadOnlySpan{byte})"/>),
/// so a row is scanned once however many of them read it.
/// </remarks>
internal static class GeoJsonShape
{
    // MultiPolygon coordinates nest 4 deep; well under Utf8JsonReader's default limit of 64.
    private const int MaxDepth = 8;

    private static ReadOnlySpan<byte> TypePrefix => "{\"type\":\""u8;

    private static ReadOnlySpan<byte> CoordinatesMember => "\",\"coordinates\":"u8;

    private static ReadOnlySpan<byte> CrsPrefix => "\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\""u8;

    private static ReadOnlySpan<byte> CrsCoordinates => "\"}},\"coordinates\":"u8;

    /// <summary>
    /// <see cref="TryParse(ReadOnlySpan{byte}, out ReadOnlySpan{byte}, out ReadOnlySpan{byte}, out ReadOnlySpan{byte})"/>
    /// of the present geometry at <paramref name="column"/> of <paramref name="row"/>, from the batch's memo
    /// of an earlier call on the same value when the row is a batch's.
    /// </summary>
    public static bool TryParse(IRowView row, int column, out ReadOnlySpan<byte> type, out ReadOnlySpan<byte> crs, out ReadOnlySpan<byte> coordinates)
    {
        var geoJson = row.GetGeometryUtf8(column).GeoJson;
        if (row is not RowBatch.BatchRowView batchRow)
        {
            return TryParse(geoJson, out type, out crs, out coordinates);
        }

        var memo = batchRow.GeoJsonShapeMemo(column);
        if (memo == UnknownMemo)
        {
            var recognised = TryParse(geoJson, out type, out crs, out coordinates);
            batchRow.SetGeoJsonShapeMemo(column, recognised ? Memo(type, crs) : NotRecognisedMemo);
            return recognised;
        }

        if (memo == NotRecognisedMemo)
        {
            type = crs = coordinates = default;
            return false;
        }

        // The lengths of the type and crs names fix every other offset (TryParse's prefixes are constant).
        var typeLength = memo & 0xFF;
        var crsLength = memo >> 8;
        var afterType = TypePrefix.Length + typeLength;
        type = geoJson.Slice(TypePrefix.Length, typeLength);
        if (crsLength == 0)
        {
            crs = default;
            coordinates = geoJson[(afterType + CoordinatesMember.Length)..^1];
        }
        else
        {
            crs = geoJson.Slice(afterType + CrsPrefix.Length, crsLength);
            coordinates = geoJson[(afterType + CrsPrefix.Length + crsLength + CrsCoordinates.Length)..^1];
        }

        return true;
    }

    /// <summary>A batch's memo before the first call on its value (a freshly set geometry).</summary>
    internal const int UnknownMemo = 0;

    private const int NotRecognisedMemo = -1;

    // The type name's length in the low byte (PostGIS's longest is 18), the crs name's above; names too long
    // for that (never PostGIS's) stay unknown and are scanned on each call.
    private static int Memo(ReadOnlySpan<byte> type, ReadOnlySpan<byte> crs) =>
        type.Length is > 0 and <= 0xFF && crs.Length < 1 << 22 ? type.Length | (crs.Length << 8) : UnknownMemo;

    /// <summary>
    /// The memo <see cref="TryParse(IRowView, int, out ReadOnlySpan{byte}, out ReadOnlySpan{byte}, out ReadOnlySpan{byte})"/>
    /// would store for <c>{"type":"Point",["crs":{"type":"name","properties":{"name":"<paramref name="crsName"/>"}},]"coordinates":[x,y]}</c>
    /// (no crs member when <paramref name="crsName"/> is empty), given that x and y are each <see cref="IsNumber"/>:
    /// for a writer that made those bytes and can so spare its readers the scan. Unknown where the name is
    /// one TryParse does not take.
    /// </summary>
    public static int PointMemo(ReadOnlySpan<byte> crsName)
    {
        foreach (var b in crsName)
        {
            if (!IsCrsNameByte(b))
            {
                return UnknownMemo;
            }
        }

        return Memo("Point"u8, crsName);
    }

    /// <summary>Whether all of <paramref name="s"/> is one JSON number (what TryParse accepts as an array element).</summary>
    public static bool IsNumber(ReadOnlySpan<byte> s)
    {
        var p = 0;
        return Number(s, ref p) && p == s.Length;
    }

    /// <summary>True when <paramref name="geoJson"/> has a shape above without a crs member; then the type name (without quotes) and the coordinates' bytes.</summary>
    public static bool TryParse(ReadOnlySpan<byte> geoJson, out ReadOnlySpan<byte> type, out ReadOnlySpan<byte> coordinates) =>
        TryParse(geoJson, out type, out var crs, out coordinates) && crs.IsEmpty;

    /// <summary>True when <paramref name="geoJson"/> has a shape above; then the type name, the crs name (empty without one) and the coordinates' bytes.</summary>
    public static bool TryParse(ReadOnlySpan<byte> geoJson, out ReadOnlySpan<byte> type, out ReadOnlySpan<byte> crs, out ReadOnlySpan<byte> coordinates)
    {
        type = default;
        crs = default;
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

        if (nameLength == 0)
        {
            return false;
        }

        var afterName = rest[nameLength..];
        ReadOnlySpan<byte> array;
        if (afterName.StartsWith(CoordinatesMember))
        {
            array = afterName[CoordinatesMember.Length..^1];
        }
        else if (afterName.StartsWith(CrsPrefix))
        {
            var name = afterName[CrsPrefix.Length..];
            var crsLength = 0;
            while (crsLength < name.Length && IsCrsNameByte(name[crsLength]))
            {
                crsLength++;
            }

            if (crsLength == 0 || !name[crsLength..].StartsWith(CrsCoordinates))
            {
                return false;
            }

            crs = name[..crsLength];
            array = name[(crsLength + CrsCoordinates.Length)..^1];
        }
        else
        {
            return false;
        }

        if (!IsNumberArray(array))
        {
            crs = default;
            return false;
        }

        type = rest[..nameLength];
        coordinates = array;
        return true;
    }

    /// <summary>Writes the canonical bytes of a value <see cref="TryParse(ReadOnlySpan{byte}, out ReadOnlySpan{byte}, out ReadOnlySpan{byte})"/> recognised.</summary>
    public static void WriteCanonical(ReadOnlySpan<byte> type, ReadOnlySpan<byte> coordinates, System.Buffers.IBufferWriter<byte> output) =>
        WriteCanonical(type, default, coordinates, output);

    /// <summary>Writes the canonical bytes of a value <see cref="TryParse(ReadOnlySpan{byte}, out ReadOnlySpan{byte}, out ReadOnlySpan{byte}, out ReadOnlySpan{byte})"/> recognised.</summary>
    public static void WriteCanonical(ReadOnlySpan<byte> type, ReadOnlySpan<byte> crs, ReadOnlySpan<byte> coordinates, System.Buffers.IBufferWriter<byte> output)
    {
        var length = "{\"coordinates\":"u8.Length + coordinates.Length + ",\"type\":\""u8.Length + type.Length + 2
            + (crs.IsEmpty ? 0 : ",\"crs\":{\"properties\":{\"name\":\""u8.Length + crs.Length + "\"},\"type\":\"name\"}"u8.Length);
        var span = output.GetSpan(length);
        var at = 0;
        Append(span, ref at, "{\"coordinates\":"u8);
        Append(span, ref at, coordinates);
        if (!crs.IsEmpty)
        {
            Append(span, ref at, ",\"crs\":{\"properties\":{\"name\":\""u8);
            Append(span, ref at, crs);
            Append(span, ref at, "\"},\"type\":\"name\"}"u8);
        }

        Append(span, ref at, ",\"type\":\""u8);
        Append(span, ref at, type);
        Append(span, ref at, "\"}"u8);
        output.Advance(at);
    }

    // spatial_ref_sys names as PostGIS writes them (EPSG:25832, ESRI:102100): nothing a JSON string escapes.
    private static bool IsCrsNameByte(byte b) => char.IsAsciiLetterOrDigit((char)b) || b is (byte)':' or (byte)'.' or (byte)'_' or (byte)'-';

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
