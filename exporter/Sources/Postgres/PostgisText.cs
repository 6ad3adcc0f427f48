using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Npgsql;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources.Postgres;

/// <summary>
/// What <c>ST_AsGeoJSON(g, 15)</c> and <c>ST_AsText(g, 15)</c> of PostGIS 3.3 give, made here from the
/// geometry's EWKB (its binary send form) so PostgreSQL renders nothing and ships each geometry once
/// (bench/README.md, "Geometry, 1,000,000 points"). The rules are liblwgeom's (lwout_geojson.c,
/// lwout_wkt.c, lwprint.c and its Ryu copy), matched byte for byte by an oracle test against the
/// installed PostGIS (PostgisTextOracleTests) over random and edge-case doubles and every geometry type.
/// </summary>
/// <remarks>
/// EWKB writes an empty point as NaN coordinates, so <c>POINT EMPTY</c> and <c>POINT(NaN NaN)</c> arrive
/// as the same bytes; the projection therefore also ships <c>ST_NPoints</c>, which counts the second and
/// not the first. Where the two disagree the points are the NaN kind (whose GeoJSON is not JSON and fails
/// the row downstream, as the server's text did). Types GeoJSON cannot hold (curves, polyhedral surfaces,
/// a collection inside a collection) fail the row with PostGIS's own message, as the server's call did.
/// </remarks>
internal sealed class PostgisText
{
    /// <summary>ST_AsGeoJSON and ST_AsText clamp to DBL_DIG decimal digits; the plan asks for that.</summary>
    public const int Precision = 15;

    private const int PointType = 1;
    private const int LineType = 2;
    private const int PolygonType = 3;
    private const int MultiPointType = 4;
    private const int MultiLineType = 5;
    private const int MultiPolygonType = 6;
    private const int CollectionType = 7;
    private const int CircularStringType = 8;
    private const int CompoundCurveType = 9;
    private const int CurvePolygonType = 10;
    private const int MultiCurveType = 11;
    private const int MultiSurfaceType = 12;
    private const int PolyhedralSurfaceType = 15;
    private const int TinType = 16;
    private const int TriangleType = 17;

    private readonly SpatialRefSys? _spatialRefSys;
    private readonly bool _geography;
    private readonly Dictionary<int, byte[]> _crsMembers = [];
    private readonly Dictionary<int, int> _crsPointMemos = [];
    private readonly Utf8Buffer _json = new();
    private readonly Utf8Buffer _wkt = new();
    private readonly Utf8Buffer _ordinates = new();
    private int[] _ordinateEnds = new int[64];
    private bool _nanPoints;

    /// <param name="spatialRefSys">The server's SRID → name table, for the GeoJSON <c>crs</c> member of a geometry column.</param>
    /// <param name="geography">A geography column: ST_AsGeoJSON(geography) writes no <c>crs</c> member.</param>
    public PostgisText(SpatialRefSys? spatialRefSys, bool geography)
    {
        _spatialRefSys = spatialRefSys;
        _geography = geography;
    }

    public ReadOnlySpan<byte> GeoJson => _json.Written;

    public ReadOnlySpan<byte> Wkt => _wkt.Written;

    public int Srid { get; private set; }

    /// <summary>
    /// <see cref="GeoJsonShape"/>'s memo of <see cref="GeoJson"/> where this writer knows it (a point of the
    /// fast path below, its ordinates JSON numbers); otherwise <see cref="GeoJsonShape.UnknownMemo"/>, and
    /// readers scan the text. Spares the row digest's scan of every point (bench/README, geo10).
    /// </summary>
    public int GeoJsonShapeMemo { get; private set; }

    /// <summary>Renders one geometry; <paramref name="serverPoints"/> is its <c>ST_NPoints</c>.</summary>
    /// <exception cref="InvalidCastException">The server's ST_AsGeoJSON would have raised an error (PostGIS's message).</exception>
    public void Render(ReadOnlySpan<byte> ewkb, long serverPoints) => TryRender(ewkb, serverPoints);

    /// <summary>
    /// Renders one geometry, <paramref name="serverPoints"/> being its <c>ST_NPoints</c> when the caller has
    /// it; false, with nothing rendered, when it has not and the EWKB holds an all-NaN point, which is
    /// <c>POINT EMPTY</c> or <c>POINT(NaN NaN)</c> only the count tells apart.
    /// </summary>
    /// <exception cref="InvalidCastException">The server's ST_AsGeoJSON would have raised an error (PostGIS's message).</exception>
    public bool TryRender(ReadOnlySpan<byte> ewkb, long? serverPoints)
    {
        _json.Clear();
        _wkt.Clear();
        GeoJsonShapeMemo = GeoJsonShape.UnknownMemo;
        if (TryRenderPoint(ewkb))
        {
            return true;
        }

        try
        {
            var scan = new Cursor(ewkb);
            var ambiguous = 0;
            _nanPoints = false;
            var vertices = Count(ref scan, ref ambiguous);
            if (ambiguous > 0 && serverPoints is null)
            {
                return false;
            }

            _nanPoints = ambiguous > 0 && vertices != serverPoints;

            var at = new Cursor(ewkb);
            var header = at.Header();
            Srid = header.Srid;
            Top(ref at, header);
            return true;
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new InvalidCastException("the geometry's EWKB is truncated", e);
        }
    }

    /// <summary>
    /// A little-endian 2D point with no NaN ordinate (most rows of most point tables), written straight
    /// into both buffers: the same bytes as the general walk below (whose emptiness count, header
    /// decoding and per-ordinate bookkeeping were most of a point's time), so an ambiguous NaN point,
    /// a Z or M, big-endian EWKB and every other type still take it.
    /// </summary>
    private bool TryRenderPoint(ReadOnlySpan<byte> ewkb)
    {
        const int PointBytes = 1 + 4 + 16;
        if (ewkb.Length < PointBytes || ewkb[0] != 1)
        {
            return false;
        }

        var type = BinaryPrimitives.ReadUInt32LittleEndian(ewkb[1..]);
        int srid;
        ReadOnlySpan<byte> xy;
        if (type == PointType && ewkb.Length == PointBytes)
        {
            srid = 0;
            xy = ewkb[5..];
        }
        else if (type == (0x20000000u | PointType) && ewkb.Length == PointBytes + 4)
        {
            srid = BinaryPrimitives.ReadInt32LittleEndian(ewkb[5..]);
            xy = ewkb[9..];
        }
        else
        {
            return false;
        }

        var x = BinaryPrimitives.ReadDoubleLittleEndian(xy);
        var y = BinaryPrimitives.ReadDoubleLittleEndian(xy[8..]);
        if (double.IsNaN(x) || double.IsNaN(y))
        {
            return false;
        }

        Span<byte> digits = stackalloc byte[2 * 40];
        var xLength = FormatOrdinate(x, digits);
        var yLength = FormatOrdinate(y, digits[xLength..]);
        var xText = digits[..xLength];
        var yText = digits.Slice(xLength, yLength);
        Srid = srid;
        _json.Append("{\"type\":\"Point\","u8);
        var crs = !_geography && srid != 0 && srid != 4326;
        if (crs)
        {
            _json.Append(CrsMember(srid));
        }

        _json.Append("\"coordinates\":["u8).Append(xText).Append(',').Append(yText).Append("]}"u8);
        _wkt.Append("POINT("u8).Append(xText).Append(' ').Append(yText).Append(')');
        // Infinity is no JSON number: such a point is left for the readers' scan (and fails there).
        if (GeoJsonShape.IsNumber(xText) && GeoJsonShape.IsNumber(yText))
        {
            GeoJsonShapeMemo = crs ? _crsPointMemos[srid] : GeoJsonShape.PointMemo(default);
        }

        return true;
    }

    // ---- GeoJSON and WKT of the top-level geometry, in one pass: each ordinate is formatted once ----

    private void Top(ref Cursor at, Header header)
    {
        var name = header.Type switch
        {
            PointType => "Point",
            LineType => "LineString",
            PolygonType or TriangleType => "Polygon",
            MultiPointType => "MultiPoint",
            MultiLineType => "MultiLineString",
            MultiPolygonType => "MultiPolygon",
            CollectionType or TinType => "GeometryCollection",
            _ => throw new InvalidCastException($"lwgeom_to_geojson: '{TypeName(header.Type)}' geometry type not supported"),
        };

        _json.Append("{\"type\":\""u8).AppendAscii(name).Append("\","u8);
        if (!_geography && header.Srid != 0 && header.Srid != 4326)
        {
            _json.Append(CrsMember(header.Srid));
        }

        Body(ref at, header, jsonMember: false, wktType: true);
    }

    /// <summary>The members after <c>{"type":"…",</c> (and crs) to the closing brace, and the WKT.</summary>
    private void Body(ref Cursor at, Header header, bool jsonMember, bool wktType)
    {
        if (wktType)
        {
            _wkt.AppendAscii(WktName(header.Type));
            Dimensions(header);
        }

        switch (header.Type)
        {
            case PointType:
                _json.Append("\"coordinates\":"u8);
                if (!Point(ref at, header))
                {
                    _json.Append("[]"u8);
                }

                _json.Append('}');
                break;

            case LineType:
                _json.Append("\"coordinates\":["u8);
                Line(ref at, header);
                _json.Append("]}"u8);
                break;

            case PolygonType:
                _json.Append("\"coordinates\":"u8);
                Polygon(ref at, header);
                _json.Append('}');
                break;

            case TriangleType:
            {
                var rings = at.UInt32();
                if (rings > 1)
                {
                    throw new InvalidCastException("a Triangle has more than one ring");
                }

                var n = rings == 0 ? 0 : at.UInt32();
                Ordinates(ref at, header, n);
                _json.Append("\"coordinates\":[["u8);
                JsonPoints(header, n);
                _json.Append("]]}"u8);
                if (n == 0)
                {
                    WktEmpty();
                }
                else
                {
                    // Triangles have extraneous brackets (lwout_wkt).
                    _wkt.Append("(("u8);
                    WktPoints(header, n);
                    _wkt.Append("))"u8);
                }

                break;
            }

            case MultiPointType or MultiLineType or MultiPolygonType:
                Multi(ref at, header);
                break;

            case CollectionType or TinType:
                Collection(ref at, header, jsonMember);
                break;

            default:
                // Only reachable inside a collection that is empty as a whole (GeoJSON writes nothing for it).
                CurveWkt(ref at, header);
                break;
        }
    }

    /// <summary>A point's GeoJSON <c>[x,y(,z)]</c> and WKT <c>(x y…)</c> or EMPTY; false (nothing in the GeoJSON) when empty.</summary>
    private bool Point(ref Cursor at, Header header)
    {
        var start = at.Position;
        if (IsEmptyPoint(ref at, header))
        {
            WktEmpty();
            return false;
        }

        at.Position = start;
        Ordinates(ref at, header, 1);
        JsonPoints(header, 1);
        _wkt.Append('(');
        WktPoints(header, 1);
        _wkt.Append(')');
        return true;
    }

    /// <summary>A point array's GeoJSON <c>[x,y],…</c> (no outer brackets) and WKT <c>(x y,…)</c> or EMPTY.</summary>
    private void Line(ref Cursor at, Header header)
    {
        var n = at.UInt32();
        Ordinates(ref at, header, n);
        JsonPoints(header, n);
        if (n == 0)
        {
            WktEmpty();
        }
        else
        {
            _wkt.Append('(');
            WktPoints(header, n);
            _wkt.Append(')');
        }
    }

    /// <summary>GeoJSON <c>[[ring],…]</c> and WKT <c>((…),(…))</c>, or EMPTY when there is no first ring (lwpoly_is_empty).</summary>
    private void Polygon(ref Cursor at, Header header)
    {
        var rings = at.UInt32();
        var empty = rings == 0 || at.PeekUInt32() == 0;
        if (empty)
        {
            WktEmpty();
        }
        else
        {
            _wkt.Append('(');
        }

        _json.Append('[');
        for (var i = 0u; i < rings; i++)
        {
            var n = at.UInt32();
            Ordinates(ref at, header, n);
            _json.Append(i > 0 ? ",["u8 : "["u8);
            JsonPoints(header, n);
            _json.Append(']');
            if (!empty)
            {
                if (i > 0)
                {
                    _wkt.Append(',');
                }

                _wkt.Append('(');
                WktPoints(header, n);
                _wkt.Append(')');
            }
        }

        _json.Append(']');
        if (!empty)
        {
            _wkt.Append(')');
        }
    }

    private void Multi(ref Cursor at, Header header)
    {
        var count = at.UInt32();
        var whole = new Cursor(at.Data) { Position = at.Position };
        var empty = AllEmpty(ref whole, count);

        _json.Append("\"coordinates\":["u8);
        if (count == 0)
        {
            WktEmpty();
        }
        else
        {
            _wkt.Append('(');
        }

        var jsonMark = _json.Length;
        for (var i = 0u; i < count; i++)
        {
            if (i > 0)
            {
                _wkt.Append(',');
                _json.Append(',');
            }

            var member = at.Header();
            switch (member.Type)
            {
                case PointType:
                    Point(ref at, member);
                    break;
                case LineType:
                    _json.Append('[');
                    Line(ref at, member);
                    _json.Append(']');
                    break;
                case PolygonType:
                    Polygon(ref at, member);
                    break;
                default:
                    throw new InvalidCastException($"a {TypeName(header.Type)} holds a {TypeName(member.Type)}");
            }
        }

        if (empty)
        {
            // PostGIS writes an empty multi-geometry as "coordinates":[] whatever its members.
            _json.Length = jsonMark;
        }

        if (count > 0)
        {
            _wkt.Append(')');
        }

        _json.Append("]}"u8);
    }

    private void Collection(ref Cursor at, Header header, bool jsonMember)
    {
        var tin = header.Type == TinType;
        var count = at.UInt32();
        var whole = new Cursor(at.Data) { Position = at.Position };
        var empty = AllEmpty(ref whole, count);
        if (jsonMember && !empty)
        {
            throw new InvalidCastException("GeoJson: geometry not supported.");
        }

        _json.Append("\"geometries\":["u8);
        if (count == 0)
        {
            WktEmpty();
        }
        else
        {
            _wkt.Append('(');
        }

        var jsonMark = _json.Length;
        for (var i = 0u; i < count; i++)
        {
            if (i > 0)
            {
                _wkt.Append(',');
                _json.Append(',');
            }

            var member = at.Header();
            if (!empty)
            {
                var name = member.Type switch
                {
                    PointType => "Point",
                    LineType => "LineString",
                    PolygonType or TriangleType => "Polygon",
                    MultiPointType => "MultiPoint",
                    MultiLineType => "MultiLineString",
                    MultiPolygonType => "MultiPolygon",
                    _ => throw new InvalidCastException("GeoJson: geometry not supported."),
                };
                _json.Append("{\"type\":\""u8).AppendAscii(name).Append("\","u8);
            }

            Body(ref at, member, jsonMember: true, wktType: !tin);
        }

        if (empty)
        {
            // An empty collection is "geometries":[] whatever its members (curves and collections included).
            _json.Length = jsonMark;
        }

        if (count > 0)
        {
            _wkt.Append(')');
        }

        _json.Append("]}"u8);
    }

    /// <summary>WKT of the curve types and polyhedral surfaces (their GeoJSON is refused), as lwout_wkt writes them.</summary>
    private void CurveWkt(ref Cursor at, Header header)
    {
        var json = _json.Length;
        switch (header.Type)
        {
            case CircularStringType:
                Line(ref at, header);
                break;

            case CompoundCurveType or CurvePolygonType or MultiCurveType or MultiSurfaceType or PolyhedralSurfaceType:
            {
                var count = at.UInt32();
                if (count == 0)
                {
                    WktEmpty();
                    break;
                }

                _wkt.Append('(');
                for (var i = 0u; i < count; i++)
                {
                    if (i > 0)
                    {
                        _wkt.Append(',');
                    }

                    var member = at.Header();
                    switch (member.Type)
                    {
                        // Linear members carry no type name in these collections; curved ones do.
                        case LineType:
                            Line(ref at, member);
                            break;
                        case PolygonType:
                            Polygon(ref at, member);
                            break;
                        default:
                            _wkt.AppendAscii(WktName(member.Type));
                            Dimensions(member);
                            CurveWkt(ref at, member);
                            break;
                    }
                }

                _wkt.Append(')');
                break;
            }

            default:
                throw new InvalidCastException($"lwgeom_to_geojson: '{TypeName(header.Type)}' geometry type not supported");
        }

        _json.Length = json;
    }

    // ---- points ----

    private bool IsEmptyPoint(ref Cursor at, Header header)
    {
        var allNaN = true;
        for (var d = 0; d < header.Dimensions; d++)
        {
            allNaN &= double.IsNaN(at.Double());
        }

        return allNaN && !_nanPoints;
    }

    /// <summary>Formats the <paramref name="n"/> points at the cursor once, for both spellings (<see cref="JsonPoints"/>, <see cref="WktPoints"/>).</summary>
    private void Ordinates(ref Cursor at, Header header, uint n)
    {
        _ordinates.Clear();
        var count = checked((int)n * header.Dimensions);
        if (_ordinateEnds.Length < count)
        {
            Array.Resize(ref _ordinateEnds, Math.Max(count, _ordinateEnds.Length * 2));
        }

        for (var i = 0; i < count; i++)
        {
            _ordinates.AppendOrdinate(at.Double());
            _ordinateEnds[i] = _ordinates.Length;
        }
    }

    private ReadOnlySpan<byte> Ordinate(int index)
    {
        var start = index == 0 ? 0 : _ordinateEnds[index - 1];
        return _ordinates.Written[start.._ordinateEnds[index]];
    }

    /// <summary><c>[x,y(,z)],…</c>: GeoJSON leaves M out.</summary>
    private void JsonPoints(Header header, uint n)
    {
        var dims = header.Dimensions;
        for (var i = 0; i < n; i++)
        {
            var first = i * dims;
            _json.Append(i > 0 ? ",["u8 : "["u8).Append(Ordinate(first)).Append(',').Append(Ordinate(first + 1));
            if (header.HasZ)
            {
                _json.Append(',').Append(Ordinate(first + 2));
            }

            _json.Append(']');
        }
    }

    /// <summary><c>x y z m,…</c>: ISO WKT keeps every dimension.</summary>
    private void WktPoints(Header header, uint n)
    {
        var count = (int)n * header.Dimensions;
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
            {
                _wkt.Append(i % header.Dimensions == 0 ? ',' : ' ');
            }

            _wkt.Append(Ordinate(i));
        }
    }

    private static void SkipRings(ref Cursor at, Header header, uint rings)
    {
        for (var i = 0u; i < rings; i++)
        {
            var n = at.UInt32();
            at.Skip(checked((int)n * header.Dimensions * 8));
        }
    }

    private void Dimensions(Header header)
    {
        if (header.HasZ || header.HasM)
        {
            _wkt.Append(' ');
            if (header.HasZ)
            {
                _wkt.Append('Z');
            }

            if (header.HasM)
            {
                _wkt.Append('M');
            }

            _wkt.Append(' ');
        }
    }

    private void WktEmpty()
    {
        var last = _wkt.Last;
        if (last is not ((byte)' ' or (byte)',' or (byte)'('))
        {
            _wkt.Append(' ');
        }

        _wkt.Append("EMPTY"u8);
    }

    // ---- emptiness and vertex counts, as liblwgeom's lwgeom_is_empty and lwgeom_count_vertices ----

    private bool AllEmpty(ref Cursor at, uint count)
    {
        var empty = true;
        for (var i = 0u; i < count; i++)
        {
            empty &= IsEmpty(ref at);
        }

        return empty;
    }

    /// <summary>lwgeom_is_empty of the geometry at the cursor (which it passes).</summary>
    private bool IsEmpty(ref Cursor at)
    {
        var header = at.Header();
        switch (header.Type)
        {
            case PointType:
                return IsEmptyPoint(ref at, header);
            case LineType or CircularStringType:
            {
                var n = at.UInt32();
                at.Skip(checked((int)n * header.Dimensions * 8));
                return n == 0;
            }

            case PolygonType or TriangleType:
            {
                var rings = at.UInt32();
                var empty = rings == 0 || at.PeekUInt32() == 0;
                SkipRings(ref at, header, rings);
                return empty;
            }

            default:
                return AllEmpty(ref at, at.UInt32());
        }
    }

    /// <summary>lwgeom_count_vertices with all-NaN points taken as empty; counts those in <paramref name="ambiguous"/>.</summary>
    private static long Count(ref Cursor at, ref int ambiguous)
    {
        var header = at.Header();
        switch (header.Type)
        {
            case PointType:
            {
                var allNaN = true;
                for (var d = 0; d < header.Dimensions; d++)
                {
                    allNaN &= double.IsNaN(at.Double());
                }

                if (allNaN)
                {
                    ambiguous++;
                    return 0;
                }

                return 1;
            }

            case LineType or CircularStringType:
            {
                var n = at.UInt32();
                at.Skip(checked((int)n * header.Dimensions * 8));
                return n;
            }

            case PolygonType or TriangleType:
            {
                var rings = at.UInt32();
                var empty = rings == 0 || at.PeekUInt32() == 0;
                long total = 0;
                for (var i = 0u; i < rings; i++)
                {
                    var n = at.UInt32();
                    at.Skip(checked((int)n * header.Dimensions * 8));
                    total += n;
                }

                return empty ? 0 : total;
            }

            default:
            {
                var count = at.UInt32();
                long total = 0;
                for (var i = 0u; i < count; i++)
                {
                    total += Count(ref at, ref ambiguous);
                }

                return total;
            }
        }
    }

    // ---- names ----

    private byte[] CrsMember(int srid)
    {
        if (!_crsMembers.TryGetValue(srid, out var member))
        {
            var name = _spatialRefSys?.Name(srid) ?? throw new InvalidCastException($"SRID {srid} unknown in spatial_ref_sys table");
            member = Encoding.UTF8.GetBytes("\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"" + name + "\"}},");
            _crsMembers[srid] = member;
            _crsPointMemos[srid] = GeoJsonShape.PointMemo(Encoding.UTF8.GetBytes(name));
        }

        return member;
    }

    private static string WktName(int type) => type switch
    {
        PointType => "POINT",
        LineType => "LINESTRING",
        PolygonType => "POLYGON",
        MultiPointType => "MULTIPOINT",
        MultiLineType => "MULTILINESTRING",
        MultiPolygonType => "MULTIPOLYGON",
        CollectionType => "GEOMETRYCOLLECTION",
        CircularStringType => "CIRCULARSTRING",
        CompoundCurveType => "COMPOUNDCURVE",
        CurvePolygonType => "CURVEPOLYGON",
        MultiCurveType => "MULTICURVE",
        MultiSurfaceType => "MULTISURFACE",
        PolyhedralSurfaceType => "POLYHEDRALSURFACE",
        TinType => "TIN",
        TriangleType => "TRIANGLE",
        _ => throw new InvalidCastException($"the geometry's EWKB has an unknown type {type}"),
    };

    /// <summary>liblwgeom's lwtype_name, which its GeoJSON error names.</summary>
    private static string TypeName(int type) => type switch
    {
        PointType => "Point",
        LineType => "LineString",
        PolygonType => "Polygon",
        MultiPointType => "MultiPoint",
        MultiLineType => "MultiLineString",
        MultiPolygonType => "MultiPolygon",
        CollectionType => "GeometryCollection",
        CircularStringType => "CircularString",
        CompoundCurveType => "CompoundCurve",
        CurvePolygonType => "CurvePolygon",
        MultiCurveType => "MultiCurve",
        MultiSurfaceType => "MultiSurface",
        PolyhedralSurfaceType => "PolyhedralSurface",
        TinType => "Tin",
        TriangleType => "Triangle",
        _ => "Invalid type",
    };

    // ---- numbers: lwprint_double(d, 15) ----

    /// <summary>
    /// lwprint_double: |d| in (1e-8, 1e15) in fixed notation, others in exponential, from the shortest
    /// round-trip digits (Ryu's; .NET's shortest formatting gives the same digits) rounded half-even to
    /// <see cref="Precision"/> decimals with trailing zeros dropped; 0 and -0 as "0", NaN, Infinity.
    /// </summary>
    public static int FormatOrdinate(double d, Span<byte> output)
    {
        if (double.IsNaN(d))
        {
            "NaN"u8.CopyTo(output);
            return 3;
        }

        if (double.IsInfinity(d))
        {
            var text = d < 0 ? "-Infinity"u8 : "Infinity"u8;
            text.CopyTo(output);
            return text.Length;
        }

        if (d == 0)
        {
            output[0] = (byte)'0';
            return 1;
        }

        var negative = d < 0;
        var magnitude = Math.Abs(d);
        ulong mantissa;
        int exponent;
        if (magnitude > 1e-8 && magnitude < 1e15)
        {
            if (!ShortDecimal(magnitude, out mantissa, out exponent))
            {
                Shortest(d, out mantissa, out exponent);
            }

            return Fixed(mantissa, exponent, negative, Precision, output);
        }

        Shortest(d, out mantissa, out exponent);

        var length = DecimalLength(mantissa);
        var scientific = exponent + length - 1;
        var at = Fixed(mantissa, 1 - length, negative, Precision, output);
        output[at++] = (byte)'e';
        output[at++] = scientific < 0 ? (byte)'-' : (byte)'+';
        var e = Math.Abs(scientific);
        if (e >= 100)
        {
            output[at++] = (byte)('0' + (e / 100));
            output[at++] = (byte)('0' + (e / 10 % 10));
        }
        else if (e >= 10)
        {
            output[at++] = (byte)('0' + (e / 10));
        }

        output[at++] = (byte)('0' + (e % 10));
        return at;
    }

    /// <summary>
    /// The common case without formatting: the fewest decimals k ≤ 15 for which round(x·10^k)/10^k reads
    /// back as x (the division is correctly rounded, so that is what parsing the decimal gives). Tried
    /// only while 10^k·ulp(x) &lt; 1/4: then at most one k-decimal number reads back as x (they are 10^-k
    /// apart, x's rounding interval is at most one ulp wide), and if one does, x·10^k is within 1/8 of it
    /// and the product's rounding error is below 1/4, so round() finds it. So the first k found gives the
    /// shortest representation, the digits Ryu picks. False: take the slow path.
    /// </summary>
    private static bool ShortDecimal(double magnitude, out ulong mantissa, out int exponent)
    {
        var ulp = Math.BitIncrement(magnitude) - magnitude;
        var scale = 1.0;
        for (var k = 0; k <= Precision && scale * ulp < 0.25; k++, scale *= 10)
        {
            var m = Math.Round(magnitude * scale);
            if (m >= 9007199254740992.0)
            {
                break;
            }

            if (m / scale == magnitude)
            {
                mantissa = (ulong)m;
                exponent = -k;
                while (mantissa % 10 == 0)
                {
                    mantissa /= 10;
                    exponent++;
                }

                return true;
            }
        }

        mantissa = 0;
        exponent = 0;
        return false;
    }

    /// <summary>d = ±mantissa × 10^exponent with the fewest digits that read back as d, no trailing zeros.</summary>
    private static void Shortest(double d, out ulong mantissa, out int exponent)
    {
        Span<byte> text = stackalloc byte[32];
        Math.Abs(d).TryFormat(text, out var written, "R", CultureInfo.InvariantCulture);
        mantissa = 0;
        exponent = 0;
        var i = 0;
        var fraction = false;
        for (; i < written; i++)
        {
            var c = text[i];
            if (c == (byte)'.')
            {
                fraction = true;
            }
            else if (c is >= (byte)'0' and <= (byte)'9')
            {
                mantissa = (mantissa * 10) + (ulong)(c - '0');
                if (fraction)
                {
                    exponent--;
                }
            }
            else
            {
                break;
            }
        }

        if (i < written)
        {
            // "E+15", "E-05"
            i++;
            var sign = 1;
            if (text[i] == (byte)'-')
            {
                sign = -1;
                i++;
            }
            else if (text[i] == (byte)'+')
            {
                i++;
            }

            var e = 0;
            for (; i < written; i++)
            {
                e = (e * 10) + (text[i] - '0');
            }

            exponent += sign * e;
        }

        while (mantissa != 0 && mantissa % 10 == 0)
        {
            mantissa /= 10;
            exponent++;
        }
    }

    /// <summary>Ryu's to_chars_fixed as PostGIS modified it.</summary>
    private static int Fixed(ulong output, int exp, bool sign, int precision, Span<byte> result)
    {
        var olength = DecimalLength(output);
        ulong integerPart;
        var integerLength = 0;
        ulong decimalPart;
        var decimalLength = 0;
        var trailingIntegerZeros = 0;
        var leadingDecimalZeros = 0;

        if (exp >= 0)
        {
            integerPart = output;
            integerLength = olength;
            trailingIntegerZeros = exp;
            decimalPart = 0;
        }
        else
        {
            if (precision < -exp)
            {
                var trim = -exp - precision;
                if (trim > olength)
                {
                    output = 0;
                    exp = 0;
                }
                else
                {
                    var divisor = Pow10(trim);
                    var half = divisor / 2;
                    var quotient = output / divisor;
                    var remainder = output - (quotient * divisor);
                    output = quotient;
                    exp += trim;
                    if (remainder > half || (remainder == half && (output & 1) != 0))
                    {
                        output++;
                        olength = DecimalLength(output);
                    }
                    else
                    {
                        olength -= trim;
                    }

                    while (output != 0 && output % 10 == 0)
                    {
                        output /= 10;
                        exp++;
                        olength--;
                    }
                }
            }

            var nexp = -exp;
            if (exp >= 0)
            {
                integerPart = output;
                integerLength = olength;
                trailingIntegerZeros = exp;
                decimalPart = 0;
            }
            else if (nexp < olength)
            {
                var p = Pow10(nexp);
                integerPart = output / p;
                decimalPart = output % p;
                integerLength = olength - nexp;
                decimalLength = olength - integerLength;
                if (decimalPart < Pow10(decimalLength - 1))
                {
                    decimalLength = DecimalLength(decimalPart);
                    leadingDecimalZeros = olength - integerLength - decimalLength;
                }
            }
            else
            {
                integerPart = 0;
                decimalPart = output;
                decimalLength = olength;
                leadingDecimalZeros = nexp - olength;
            }
        }

        var index = 0;
        if (sign && (integerPart != 0 || decimalPart != 0))
        {
            result[index++] = (byte)'-';
        }

        index += Digits(integerPart, integerLength, result[index..]);
        for (var i = 0; i < trailingIntegerZeros; i++)
        {
            result[index++] = (byte)'0';
        }

        if (decimalPart != 0)
        {
            result[index++] = (byte)'.';
            for (var i = 0; i < leadingDecimalZeros; i++)
            {
                result[index++] = (byte)'0';
            }

            index += Digits(decimalPart, decimalLength, result[index..]);
        }

        return index;
    }

    /// <summary>Ryu's to_chars_uint64: <paramref name="length"/> digits of <paramref name="value"/>; 0 is "0".</summary>
    private static int Digits(ulong value, int length, Span<byte> result)
    {
        if (value == 0)
        {
            result[0] = (byte)'0';
            return 1;
        }

        for (var i = length - 1; i >= 0; i--)
        {
            result[i] = (byte)('0' + (value % 10));
            value /= 10;
        }

        return length;
    }

    private static ulong Pow10(int exponent)
    {
        var p = 1UL;
        for (var i = 0; i < exponent; i++)
        {
            p *= 10;
        }

        return p;
    }

    private static int DecimalLength(ulong v)
    {
        var n = 1;
        while (v >= 10)
        {
            v /= 10;
            n++;
        }

        return n;
    }

    // ---- EWKB ----

    private readonly record struct Header(int Type, bool HasZ, bool HasM, bool BigEndian, int Srid)
    {
        public int Dimensions => 2 + (HasZ ? 1 : 0) + (HasM ? 1 : 0);
    }

    private ref struct Cursor(ReadOnlySpan<byte> data)
    {
        private bool _bigEndian;

        public ReadOnlySpan<byte> Data { get; } = data;

        public int Position { get; set; }

        /// <summary>Byte order, type word (EWKB flags or ISO thousands) and EWKB's optional SRID.</summary>
        public Header Header()
        {
            _bigEndian = Data[Position++] == 0;
            var raw = UInt32();
            var hasZ = (raw & 0x80000000u) != 0;
            var hasM = (raw & 0x40000000u) != 0;
            var srid = 0;
            if ((raw & 0x20000000u) != 0)
            {
                srid = (int)UInt32();
            }

            var type = (int)(raw & 0x0FFFFFFFu);
            if (type >= 1000)
            {
                var dims = type / 1000;
                hasZ |= dims is 1 or 3;
                hasM |= dims is 2 or 3;
                type %= 1000;
            }

            return new Header(type, hasZ, hasM, _bigEndian, srid);
        }

        public uint UInt32()
        {
            var value = PeekUInt32();
            Position += 4;
            return value;
        }

        public readonly uint PeekUInt32()
        {
            var bytes = Data.Slice(Position, 4);
            return _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(bytes) : BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        }

        public double Double()
        {
            var bytes = Data.Slice(Position, 8);
            Position += 8;
            return _bigEndian ? BinaryPrimitives.ReadDoubleBigEndian(bytes) : BinaryPrimitives.ReadDoubleLittleEndian(bytes);
        }

        public void Skip(int bytes)
        {
            if (Position + bytes > Data.Length || bytes < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(bytes));
            }

            Position += bytes;
        }
    }

    private sealed class Utf8Buffer
    {
        private byte[] _bytes = new byte[256];

        public int Length { get; set; }

        public ReadOnlySpan<byte> Written => _bytes.AsSpan(0, Length);

        public byte Last => Length == 0 ? (byte)0 : _bytes[Length - 1];

        public void Clear() => Length = 0;

        public Utf8Buffer Append(char c)
        {
            Ensure(1);
            _bytes[Length++] = (byte)c;
            return this;
        }

        public Utf8Buffer Append(ReadOnlySpan<byte> bytes)
        {
            Ensure(bytes.Length);
            bytes.CopyTo(_bytes.AsSpan(Length));
            Length += bytes.Length;
            return this;
        }

        public Utf8Buffer AppendAscii(string text)
        {
            Ensure(text.Length);
            for (var i = 0; i < text.Length; i++)
            {
                _bytes[Length++] = (byte)text[i];
            }

            return this;
        }

        public void AppendOrdinate(double d)
        {
            Ensure(40);
            Length += FormatOrdinate(d, _bytes.AsSpan(Length));
        }

        private void Ensure(int more)
        {
            if (Length + more > _bytes.Length)
            {
                Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, Length + more));
            }
        }
    }
}

/// <summary>
/// spatial_ref_sys as ST_AsGeoJSON reads it for a geometry's <c>crs</c> member
/// (<c>auth_name || ':' || auth_srid</c> by SRID), loaded once per read inside the export's snapshot.
/// </summary>
internal sealed class SpatialRefSys(IReadOnlyDictionary<int, string?> names)
{
    /// <summary>The SRID's short name, or null where ST_AsGeoJSON raises "unknown in spatial_ref_sys".</summary>
    public string? Name(int srid) => names.TryGetValue(srid, out var name) ? name : null;

    public static async Task<SpatialRefSys> LoadAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var names = new Dictionary<int, string?>();
        await using var command = new NpgsqlCommand("SELECT srid, auth_name || ':' || auth_srid FROM spatial_ref_sys", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            names[reader.GetInt32(0)] = reader.IsDBNull(1) ? null : reader.GetString(1);
        }

        return new SpatialRefSys(names);
    }
}
