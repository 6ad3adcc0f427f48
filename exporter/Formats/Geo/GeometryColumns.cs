using BulkExport.Exporter.Rows;
using NetTopologySuite;
using NetTopologySuite.Geometries;
using NetTopologySuite.IO;

namespace BulkExport.Exporter.Formats.Geo;

/// <summary>What a structured format needs to know about the entity it writes, beyond its columns.</summary>
/// <param name="EntityName">Table, layer and feature type name.</param>
/// <param name="GeometryColumn">The entity's declared geometry column (<c>geometry.column</c>), the primary one; null: the first Geometry column, if any.</param>
/// <param name="Epsg">The configured CRS (<c>geometry.epsg</c>); null: the rows' SRID, else 4326.</param>
/// <param name="KeyColumns">The entity's key (GeoPackage's feature ids stay generated; the key is indexed).</param>
internal sealed record EntityGeometry(string EntityName, string? GeometryColumn, int? Epsg, IReadOnlyList<string> KeyColumns)
{
    public const int DefaultEpsg = 4326;

    /// <summary>Indexes of the Geometry columns, the primary first.</summary>
    public int[] GeometryIndexes(IReadOnlyList<Column> columns)
    {
        var all = Enumerable.Range(0, columns.Count).Where(i => columns[i].Kind == ColumnKind.Geometry).ToList();
        var primary = GeometryColumn is null ? -1 : all.FindIndex(i => columns[i].Name == GeometryColumn);
        if (primary > 0)
        {
            (all[0], all[primary]) = (all[primary], all[0]);
        }

        return [.. all];
    }
}

/// <summary>
/// Turns a row's <see cref="GeometryValue"/> into a NetTopologySuite geometry (from its WKT) and keeps
/// one file's CRS: the configured one, or the first SRID seen. Rows whose SRID differs fail the file,
/// since no format here can hold two CRSs in one geometry column and the exporter does not reproject.
/// </summary>
/// <param name="entity">The entity, with its configured CRS.</param>
/// <param name="firstSrid">When no CRS is configured: an SRID an earlier file of the same group fixed, which this one must keep.</param>
internal sealed class GeometryReader(EntityGeometry entity, int? firstSrid = null)
{
    private readonly WKTReader _wkt = new(NtsGeometryServices.Instance) { IsOldNtsCoordinateSyntaxAllowed = false };
    private readonly GeometryFactory _factory = NtsGeometryServices.Instance.CreateGeometryFactory();
    private int? _srid = entity.Epsg ?? firstSrid;
    private char[] _chars = new char[256];

    /// <summary>The file's CRS: configured, else the first SRID seen, else EPSG:4326.</summary>
    public Crs Crs => CrsDefinitions.Get(_srid ?? EntityGeometry.DefaultEpsg, $"entity {entity.EntityName}");

    public int Srid => _srid ?? EntityGeometry.DefaultEpsg;

    /// <summary>The CRS configured or taken from a geometry so far; null while only geometries without an SRID were read.</summary>
    public int? FileSrid => _srid;

    public Geometry Read(object value, Column column)
    {
        if (value is not GeometryValue g)
        {
            throw new FormatException($"entity {entity.EntityName}, column {column.Name}: expected a geometry, got {value.GetType().Name}");
        }

        return Read(CheckedWkt(g, column));
    }

    /// <summary>A geometry from a row view's UTF-8 (<see cref="IRowView.GetGeometryUtf8"/>): no string unless NetTopologySuite's reader is needed.</summary>
    public Geometry Read(GeometryUtf8 value, Column column, out bool hasZ) => WithOrdinates(Read(CheckedWkt(value, column)), column, out hasZ);

    private Geometry Read(ReadOnlySpan<char> wkt)
    {
        var geometry = TryReadPoint(wkt) ?? _wkt.Read(wkt.ToString());
        geometry.SRID = Srid;
        return geometry;
    }

    /// <summary>
    /// <see cref="Read(object, Column)"/>, and whether the geometry has a Z ordinate, which the caller
    /// must then write; an M ordinate fails the file, since no structured format here carries it (nor
    /// do the JSON formats' GeoJSON), and dropping it silently would change the value.
    /// </summary>
    public Geometry Read(object value, Column column, out bool hasZ) => WithOrdinates(Read(value, column), column, out hasZ);

    private Geometry WithOrdinates(Geometry geometry, Column column, out bool hasZ)
    {
        var ordinates = new OrdinateFilter();
        geometry.Apply(ordinates);
        if (ordinates.M)
        {
            throw new FormatException($"entity {entity.EntityName}, column {column.Name}: a geometry has an M (measure) ordinate, which GPKG, GML and PARQUET do not carry here and would otherwise drop; remove it in the source query (ST_Force3DZ or ST_Force2D)");
        }

        hasZ = ordinates.Z;
        return geometry;
    }

    /// <summary>Whether any coordinate has a Z or an M: a sequence's dimension alone may include NaN padding.</summary>
    private sealed class OrdinateFilter : IEntireCoordinateSequenceFilter
    {
        public bool Z { get; private set; }

        public bool M { get; private set; }

        public bool Done => false;

        public bool GeometryChanged => false;

        public void Filter(CoordinateSequence seq)
        {
            for (var i = 0; i < seq.Count; i++)
            {
                Z |= seq.HasZ && !double.IsNaN(seq.GetZ(i));
                M |= seq.HasM && !double.IsNaN(seq.GetM(i));
            }
        }
    }

    /// <summary>Checks the value's SRID against the file's CRS (fixing it from the first, when not configured) and returns its WKT without an <c>SRID=…;</c> prefix.</summary>
    public ReadOnlySpan<char> CheckedWkt(GeometryValue g, Column column)
    {
        CheckSrid(g.Srid, column);
        return WktBody(g.Wkt);
    }

    /// <summary>
    /// <see cref="CheckedWkt(GeometryValue, Column)"/> for a row view's UTF-8: the WKT widened into a
    /// buffer of this reader, valid until the next call.
    /// </summary>
    public ReadOnlySpan<char> CheckedWkt(GeometryUtf8 g, Column column)
    {
        CheckSrid(g.Srid, column);
        var wkt = g.Wkt;
        if (_chars.Length < wkt.Length)
        {
            _chars = new char[Math.Max(wkt.Length, _chars.Length * 2)];
        }

        // PostGIS's WKT is ASCII; anything else (a file source's text) goes through the UTF-8 decoder.
        var length = System.Text.Ascii.ToUtf16(wkt, _chars, out var written) == System.Buffers.OperationStatus.Done
            ? written
            : System.Text.Encoding.UTF8.GetChars(wkt, _chars);
        return WktBody(_chars.AsSpan(0, length));
    }

    private void CheckSrid(int? value, Column column)
    {
        if (value is { } srid and > 0)
        {
            if (_srid is null)
            {
                // Fails now, on the first row, rather than when the file's metadata is written.
                CrsDefinitions.Get(srid, $"entity {entity.EntityName}, column {column.Name}");
                _srid = srid;
            }
            else if (srid != _srid)
            {
                throw new FormatException($"entity {entity.EntityName}, column {column.Name}: a geometry has SRID {srid}, the file's CRS is EPSG:{_srid} ({(entity.Epsg is null ? "the first row's SRID" : "geometry.epsg")}); one file holds one CRS and the exporter does not reproject");
            }
        }
    }

    private static ReadOnlySpan<char> WktBody(ReadOnlySpan<char> wkt) =>
        wkt.StartsWith("SRID=", StringComparison.OrdinalIgnoreCase) ? wkt[(wkt.IndexOf(';') + 1)..] : wkt;

    /// <summary>
    /// <c>POINT (x y)</c>, the commonest geometry of a register (an access point), without the WKT
    /// tokenizer, which costs more than writing the point. Anything else goes to <see cref="WKTReader"/>.
    /// </summary>
    private Point? TryReadPoint(ReadOnlySpan<char> wkt)
    {
        var text = wkt.Trim();
        if (!text.StartsWith("POINT", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        text = text[5..].TrimStart();
        if (text.Length < 2 || text[0] != '(' || text[^1] != ')')
        {
            return null;
        }

        text = text[1..^1].Trim();
        var space = text.IndexOf(' ');
        if (space < 0 || text[(space + 1)..].Trim().Contains(' ')
            || !double.TryParse(text[..space], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var x)
            || !double.TryParse(text[(space + 1)..].Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var y))
        {
            return null;
        }

        return _factory.CreatePoint(new Coordinate(x, y));
    }
}
