using System.Buffers.Binary;
using System.Globalization;
using NetTopologySuite.Geometries;

namespace BulkExport.Exporter.Formats.Geo;

/// <summary>
/// Turns the 2D WKT a source gives (PostGIS's <c>ST_AsText</c>) straight into ISO WKB, little-endian,
/// the bytes NetTopologySuite's <c>WKBWriter</c> writes for the same geometry, and computes the type
/// and envelope on the way: no geometry objects, no tokenizer, no allocation once the buffer has grown.
/// It takes the common spellings only; anything else (EMPTY, Z/M, a third ordinate, an unclosed ring,
/// a number it cannot read) returns false and the caller takes the NetTopologySuite path, which
/// either reads it or fails with its own message, so the set of geometries accepted is unchanged.
/// </summary>
internal sealed class WktToWkb
{
    private const byte LittleEndian = 1;

    private byte[] _buffer = new byte[256];
    private int _length;

    /// <summary>The WKB of the last geometry converted.</summary>
    public ReadOnlySpan<byte> Wkb => _buffer.AsSpan(0, _length);

    public OgcGeometryType Type { get; private set; }

    public double MinX { get; private set; }

    public double MinY { get; private set; }

    public double MaxX { get; private set; }

    public double MaxY { get; private set; }

    /// <summary>Converts <paramref name="wkt"/> (without an <c>SRID=…;</c> prefix); false leaves nothing usable.</summary>
    public bool TryConvert(ReadOnlySpan<char> wkt)
    {
        _length = 0;
        MinX = MinY = double.PositiveInfinity;
        MaxX = MaxY = double.NegativeInfinity;
        var position = 0;
        if (!Geometry(wkt, ref position, out var type))
        {
            return false;
        }

        SkipSpace(wkt, ref position);
        Type = type;
        // No coordinate at all cannot happen without EMPTY, which is refused; NaN would leave the envelope unset.
        return position == wkt.Length && MinX <= MaxX && MinY <= MaxY;
    }

    private bool Geometry(ReadOnlySpan<char> s, ref int p, out OgcGeometryType type)
    {
        type = default;
        SkipSpace(s, ref p);
        var start = p;
        while (p < s.Length && char.IsAsciiLetter(s[p]))
        {
            p++;
        }

        var keyword = s[start..p];
        SkipSpace(s, ref p);
        // EMPTY, Z, M, ZM: left to NetTopologySuite.
        if (!Expect(s, ref p, '('))
        {
            return false;
        }

        if (keyword.Equals("POINT", StringComparison.OrdinalIgnoreCase))
        {
            type = OgcGeometryType.Point;
            Header(1);
            return Coordinate(s, ref p) && Expect(s, ref p, ')');
        }

        if (keyword.Equals("LINESTRING", StringComparison.OrdinalIgnoreCase))
        {
            type = OgcGeometryType.LineString;
            Header(2);
            return Coordinates(s, ref p, minimum: 2, closed: false);
        }

        if (keyword.Equals("POLYGON", StringComparison.OrdinalIgnoreCase))
        {
            type = OgcGeometryType.Polygon;
            Header(3);
            return Rings(s, ref p);
        }

        if (keyword.Equals("MULTIPOINT", StringComparison.OrdinalIgnoreCase))
        {
            type = OgcGeometryType.MultiPoint;
            Header(4);
            return Members(s, ref p, MultiPointMember);
        }

        if (keyword.Equals("MULTILINESTRING", StringComparison.OrdinalIgnoreCase))
        {
            type = OgcGeometryType.MultiLineString;
            Header(5);
            return Members(s, ref p, (WktToWkb w, ReadOnlySpan<char> t, ref int q) =>
            {
                w.Header(2);
                return Expect(t, ref q, '(') && w.Coordinates(t, ref q, minimum: 2, closed: false);
            });
        }

        if (keyword.Equals("MULTIPOLYGON", StringComparison.OrdinalIgnoreCase))
        {
            type = OgcGeometryType.MultiPolygon;
            Header(6);
            return Members(s, ref p, (WktToWkb w, ReadOnlySpan<char> t, ref int q) =>
            {
                w.Header(3);
                return Expect(t, ref q, '(') && w.Rings(t, ref q);
            });
        }

        if (keyword.Equals("GEOMETRYCOLLECTION", StringComparison.OrdinalIgnoreCase))
        {
            type = OgcGeometryType.GeometryCollection;
            Header(7);
            return Members(s, ref p, (WktToWkb w, ReadOnlySpan<char> t, ref int q) => w.Geometry(t, ref q, out _));
        }

        return false;
    }

    private delegate bool Member(WktToWkb writer, ReadOnlySpan<char> s, ref int p);

    private static bool MultiPointMember(WktToWkb w, ReadOnlySpan<char> s, ref int p)
    {
        w.Header(1);
        SkipSpace(s, ref p);
        // Both spellings: MULTIPOINT ((1 2), (3 4)) and MULTIPOINT (1 2, 3 4).
        if (p < s.Length && s[p] == '(')
        {
            p++;
            return w.Coordinate(s, ref p) && Expect(s, ref p, ')');
        }

        return w.Coordinate(s, ref p);
    }

    /// <summary>Comma-separated members up to the closing parenthesis, counted into the collection's header.</summary>
    private bool Members(ReadOnlySpan<char> s, ref int p, Member member)
    {
        var countAt = Reserve(4);
        var count = 0;
        do
        {
            if (!member(this, s, ref p))
            {
                return false;
            }

            count++;
        }
        while (Comma(s, ref p));

        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(countAt), count);
        return Expect(s, ref p, ')');
    }

    /// <summary>Rings of a polygon after its opening parenthesis, each closed and of at least four points.</summary>
    private bool Rings(ReadOnlySpan<char> s, ref int p)
    {
        var countAt = Reserve(4);
        var count = 0;
        do
        {
            if (!Expect(s, ref p, '(') || !Coordinates(s, ref p, minimum: 4, closed: true))
            {
                return false;
            }

            count++;
        }
        while (Comma(s, ref p));

        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(countAt), count);
        return Expect(s, ref p, ')');
    }

    /// <summary>A point count and the points, up to and including the closing parenthesis.</summary>
    private bool Coordinates(ReadOnlySpan<char> s, ref int p, int minimum, bool closed)
    {
        var countAt = Reserve(4);
        var count = 0;
        do
        {
            if (!Coordinate(s, ref p))
            {
                return false;
            }

            count++;
        }
        while (Comma(s, ref p));

        if (count < minimum)
        {
            return false;
        }

        if (closed)
        {
            var first = _buffer.AsSpan(countAt + 4, 16);
            var last = _buffer.AsSpan(_length - 16, 16);
            if (!first.SequenceEqual(last))
            {
                return false;
            }
        }

        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(countAt), count);
        return Expect(s, ref p, ')');
    }

    private bool Coordinate(ReadOnlySpan<char> s, ref int p)
    {
        if (!Number(s, ref p, out var x) || !Number(s, ref p, out var y))
        {
            return false;
        }

        SkipSpace(s, ref p);
        // A third ordinate (Z without the tag) is NetTopologySuite's to read.
        if (p < s.Length && s[p] != ',' && s[p] != ')')
        {
            return false;
        }

        var at = Reserve(16);
        BinaryPrimitives.WriteDoubleLittleEndian(_buffer.AsSpan(at), x);
        BinaryPrimitives.WriteDoubleLittleEndian(_buffer.AsSpan(at + 8), y);
        MinX = Math.Min(MinX, x);
        MaxX = Math.Max(MaxX, x);
        MinY = Math.Min(MinY, y);
        MaxY = Math.Max(MaxY, y);
        return true;
    }

    private static bool Number(ReadOnlySpan<char> s, ref int p, out double value)
    {
        SkipSpace(s, ref p);
        var start = p;
        while (p < s.Length && (char.IsAsciiDigit(s[p]) || s[p] is '-' or '+' or '.' or 'e' or 'E'))
        {
            p++;
        }

        var text = s[start..p];
        return TryParseShort(text, out value)
            || (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value));
    }

    // 10^0 … 10^22: every one a double exactly.
    private static ReadOnlySpan<double> PowersOfTen =>
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    /// <summary>
    /// <c>[-]digits[.digits]</c> with at most 15 digits: the digits as an integer below 2^53 and a power of
    /// ten up to 10^22 are both exact doubles, so one division is the correctly rounded value, the one
    /// <see cref="double.TryParse(ReadOnlySpan{char}, NumberStyles, IFormatProvider?, out double)"/> returns
    /// (Clinger's fast path). Projected coordinates (EPSG:25832's metres) are such numbers; a parse was
    /// most of this class's time. Anything else (more digits, an exponent) is left to <see cref="double.TryParse(ReadOnlySpan{char}, NumberStyles, IFormatProvider?, out double)"/>.
    /// </summary>
    internal static bool TryParseShort(ReadOnlySpan<char> text, out double value)
    {
        value = 0;
        var i = 0;
        var negative = i < text.Length && text[i] == '-';
        if (negative)
        {
            i++;
        }

        long mantissa = 0;
        var digits = 0;
        var fraction = -1;
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsAsciiDigit(c))
            {
                mantissa = (mantissa * 10) + (c - '0');
                digits++;
            }
            else if (c == '.' && fraction < 0)
            {
                fraction = digits;
            }
            else
            {
                return false;
            }
        }

        // "-", ".", "1.", ".5": not numbers here; double.TryParse decides them.
        if (digits == 0 || digits > 15 || fraction == 0 || fraction == digits)
        {
            return false;
        }

        var scale = fraction < 0 ? 0 : digits - fraction;
        value = mantissa / PowersOfTen[scale];
        if (negative)
        {
            value = -value;
        }

        return true;
    }

    private void Header(int type)
    {
        var at = Reserve(5);
        _buffer[at] = LittleEndian;
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(at + 1), type);
    }

    private int Reserve(int bytes)
    {
        if (_length + bytes > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + bytes));
        }

        var at = _length;
        _length += bytes;
        return at;
    }

    private static bool Comma(ReadOnlySpan<char> s, ref int p)
    {
        SkipSpace(s, ref p);
        if (p < s.Length && s[p] == ',')
        {
            p++;
            return true;
        }

        return false;
    }

    private static bool Expect(ReadOnlySpan<char> s, ref int p, char c)
    {
        SkipSpace(s, ref p);
        if (p < s.Length && s[p] == c)
        {
            p++;
            return true;
        }

        return false;
    }

    private static void SkipSpace(ReadOnlySpan<char> s, ref int p)
    {
        while (p < s.Length && char.IsWhiteSpace(s[p]))
        {
            p++;
        }
    }
}
