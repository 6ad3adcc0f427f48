using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BulkExport.Exporter.Formats.Geo;
using BulkExport.Exporter.Rows;
using NetTopologySuite.Geometries;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// GML 3.2: a feature collection of the entity's feature type, one <c>featureMember</c> per row,
/// every column a typed property, geometries with their <c>srsName</c>. The application schema (XSD)
/// is zipped beside the data file under the same base name, where GDAL and XML tools look for it.
/// Only for entities with a geometry (as on Datafordeleren).
/// </summary>
/// <remarks>
/// Written by hand rather than through <see cref="System.Xml.XmlWriter"/>: a part is streamed record by
/// record into the splitter's buffer, its footer must be fixed bytes the splitter can measure, and an
/// XmlWriter over fragments would declare the namespaces again on every feature. The escaping below
/// is the whole of what XML text and attribute values need.
/// One instance serves one output group: the geometry types its encoders saw decide the XSD's
/// property types, so QGIS and ogrinfo report Point rather than "Unknown".
/// </remarks>
internal sealed class GmlFormat(EntityGeometry entity) : IStreamedFormat, IEntityConfiguredFormat
{
    public const string GmlNamespace = "http://www.opengis.net/gml/3.2";

    private readonly Dictionary<string, HashSet<OgcGeometryType>> _seenTypes = new(StringComparer.Ordinal);

    public string Name => "GML";

    public string Extension => "gml";

    /// <summary>The application schema's target namespace: one per entity.</summary>
    public string Namespace => $"http://bulkexport.io/gml/{entity.EntityName}";

    public IRecordEncoder CreateEncoder(FormatSchema schema) => new GmlRecordEncoder(this, entity, schema.Columns, FirstSrid);

    public IOutputFormat For(EntityGeometry entity, DateTimeOffset pointInTime, string parquetCompression) => new GmlFormat(entity);

    /// <summary>The application schema (called when every row is in, so the geometry types seen are known) and the source DDL, whose types the XSD's <c>xs:string</c> cannot tell apart.</summary>
    public IReadOnlyList<CompanionFile> CompanionFiles(FormatSchema schema) =>
        [new CompanionFile("xsd", Encoding.UTF8.GetBytes(GmlSchema.Write(this, entity, schema.Columns, Crs))), SqlDdl.Companion(schema)];

    // The first SRID any encoder of this group saw, when geometry.epsg is not configured.
    private int? _firstSrid;

    private int? FirstSrid
    {
        get
        {
            lock (_seenTypes)
            {
                return _firstSrid;
            }
        }
    }

    /// <summary>
    /// The one CRS of every part and of the schema: the configured <c>geometry.epsg</c>, else the
    /// first geometry's SRID (later parts' encoders start from it, so a part with another SRID fails
    /// instead of changing it), else EPSG:4326. Never the last geometry seen.
    /// </summary>
    internal Crs Crs => CrsDefinitions.Get(entity.Epsg ?? FirstSrid ?? EntityGeometry.DefaultEpsg, $"entity {entity.EntityName}");

    internal void SawSrid(int srid)
    {
        lock (_seenTypes)
        {
            _firstSrid ??= srid;
        }
    }

    internal void Saw(string column, OgcGeometryType type)
    {
        lock (_seenTypes)
        {
            if (!_seenTypes.TryGetValue(column, out var set))
            {
                _seenTypes[column] = set = [];
            }

            set.Add(type);
        }
    }

    internal string PropertyType(string column)
    {
        lock (_seenTypes)
        {
            if (!_seenTypes.TryGetValue(column, out var set) || set.Count != 1)
            {
                return "gml:GeometryPropertyType";
            }

            return set.Single() switch
            {
                OgcGeometryType.Point => "gml:PointPropertyType",
                OgcGeometryType.LineString => "gml:CurvePropertyType",
                OgcGeometryType.Polygon => "gml:SurfacePropertyType",
                OgcGeometryType.MultiPoint => "gml:MultiPointPropertyType",
                OgcGeometryType.MultiLineString => "gml:MultiCurvePropertyType",
                OgcGeometryType.MultiPolygon => "gml:MultiSurfacePropertyType",
                _ => "gml:GeometryPropertyType",
            };
        }
    }
}

internal sealed class GmlRecordEncoder : IRecordEncoder
{
    private readonly GmlFormat _format;
    private readonly EntityGeometry _entity;
    private readonly IReadOnlyList<Column> _columns;
    private readonly GeometryReader _geometry;
    // Whether the geometry being written has a Z: its positions then carry three ordinates (srsDimension 3).
    private bool _hasZ;
    private string _geometryColumn = "";
    private readonly StringBuilder _text = new(1024);
    private readonly ArrayBufferWriter<byte> _json = new(256);
    private readonly Utf8JsonWriter _jsonWriter;
    private readonly object?[] _values;
    private long _feature;

    // Marks a present geometry in _values: its value is read from the row view itself.
    private static readonly object FromView = new();

    /// <param name="firstSrid">The SRID an earlier part of the group fixed (see <see cref="GmlFormat.Crs"/>), or null.</param>
    public GmlRecordEncoder(GmlFormat format, EntityGeometry entity, IReadOnlyList<Column> columns, int? firstSrid = null)
    {
        _format = format;
        _entity = entity;
        _columns = columns;
        _geometry = new GeometryReader(entity, firstSrid);
        _values = new object?[columns.Count];
        foreach (var name in columns.Select(c => c.Name).Prepend(entity.EntityName))
        {
            try
            {
                System.Xml.XmlConvert.VerifyNCName(name);
            }
            catch (System.Xml.XmlException)
            {
                throw new FormatException($"entity {entity.EntityName}: '{name}' cannot be a GML element name (an XML NCName); rename the column in the source or query");
            }
        }

        _jsonWriter = new Utf8JsonWriter(_json, JsonValues.WriterOptions);
    }

    public void WriteHeader(IBufferWriter<byte> output)
    {
        _text.Clear();
        _text.Append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<bx:FeatureCollection xmlns:bx=\"").Append(_format.Namespace)
            .Append("\" xmlns:gml=\"").Append(GmlFormat.GmlNamespace)
            .Append("\" gml:id=\"").Append(_entity.EntityName).Append("\">");
        Flush(output);
    }

    public void WriteRecord(IRowView view, IBufferWriter<byte> output)
    {
        var row = _values;
        for (var i = 0; i < row.Length; i++)
        {
            // A geometry is read from the view's UTF-8 below (no boxed GeometryValue with two strings per row).
            row[i] = view.IsNull(i) ? null : _columns[i].Kind == ColumnKind.Geometry ? FromView : view.GetValue(i);
        }

        if (row.Length != _columns.Count)
        {
            throw new ArgumentException($"Row has {row.Length} values for {_columns.Count} columns.", nameof(row));
        }

        _feature++;
        var id = $"{_entity.EntityName}.{_feature.ToString(CultureInfo.InvariantCulture)}";
        _text.Clear();
        _text.Append("\n<bx:featureMember><bx:").Append(_entity.EntityName).Append(" gml:id=\"").Append(id).Append("\">");
        for (var i = 0; i < row.Length; i++)
        {
            var value = row[i];
            if (value is null)
            {
                // Absent is GML's null: the schema makes every property optional.
                continue;
            }

            var column = _columns[i];
            _text.Append("<bx:").Append(column.Name).Append('>');
            if (ReferenceEquals(value, FromView))
            {
                AppendGeometry(_geometry.Read(view.GetGeometryUtf8(i), column, out var hasZ), hasZ, column, id, i);
            }
            else
            {
                AppendValue(column, value, id, i);
            }

            _text.Append("</bx:").Append(column.Name).Append('>');
        }

        _text.Append("</bx:").Append(_entity.EntityName).Append("></bx:featureMember>");
        Flush(output);
    }

    public void WriteFooter(IBufferWriter<byte> output) => output.Write("\n</bx:FeatureCollection>\n"u8);

    private void Flush(IBufferWriter<byte> output)
    {
        var chunks = _text.GetChunks();
        foreach (var chunk in chunks)
        {
            var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(chunk.Length));
            output.Advance(Encoding.UTF8.GetBytes(chunk.Span, span));
        }
    }

    private void AppendValue(Column column, object value, string id, int index)
    {
        switch (column.Kind)
        {
            case ColumnKind.Text:
                AppendEscaped(value as string ?? throw ScalarText.Mismatch(value, column), column);
                break;
            case ColumnKind.Decimal:
                _text.Append(ScalarText.DecimalString(value, column));
                break;
            case ColumnKind.Float:
                var d = ScalarText.ToDouble(value, column);
                // xs:double's spellings of the non-finite values.
                _text.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "INF" : double.IsNegativeInfinity(d) ? "-INF" : d.ToString("R", CultureInfo.InvariantCulture));
                break;
            case ColumnKind.Integer or ColumnKind.Boolean or ColumnKind.Date or ColumnKind.Timestamp or ColumnKind.TimestampTz or ColumnKind.Uuid:
                Span<byte> scalar = stackalloc byte[ScalarText.MaxScalarBytes];
                var written = ScalarText.Format(column.Kind, value, column, scalar);
                Span<char> chars = stackalloc char[written];
                Encoding.ASCII.GetChars(scalar[..written], chars);
                _text.Append(chars);
                break;
            case ColumnKind.Json:
                AppendEscaped(value is RawJson raw ? raw.Json : throw ScalarText.Mismatch(value, column), column);
                break;
            case ColumnKind.Bytes:
                _text.Append(Convert.ToBase64String(value as byte[] ?? throw ScalarText.Mismatch(value, column)));
                break;
            case ColumnKind.Array:
                // As its JSON text, the spelling of the other formats; GML has no typed list of any kind.
                _json.ResetWrittenCount();
                _jsonWriter.Reset(_json);
                JsonValues.WriteValue(_jsonWriter, column, column.Kind, value);
                _jsonWriter.Flush();
                AppendEscaped(Encoding.UTF8.GetString(_json.WrittenSpan), column);
                break;
            case ColumnKind.Geometry:
                var geometry = _geometry.Read(value, column, out var hasZ);
                AppendGeometry(geometry, hasZ, column, id, index);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(column), column.Kind, null);
        }
    }

    private void AppendGeometry(Geometry geometry, bool hasZ, Column column, string id, int index)
    {
        _format.Saw(column.Name, geometry.OgcGeometryType);
        _hasZ = hasZ;
        _geometryColumn = column.Name;
        if (_geometry.FileSrid is { } srid)
        {
            _format.SawSrid(srid);
        }

        AppendGeometry(geometry, $"{id}.{index.ToString(CultureInfo.InvariantCulture)}", top: true);
    }

    private void AppendEscaped(string text, Column column)
    {
        foreach (var c in text)
        {
            switch (c)
            {
                case '&': _text.Append("&amp;"); break;
                case '<': _text.Append("&lt;"); break;
                case '>': _text.Append("&gt;"); break;
                // A raw CR would be read back as LF (XML end-of-line handling).
                case '\r': _text.Append("&#13;"); break;
                case '\t' or '\n': _text.Append(c); break;
                case < ' ' or '\uFFFE' or '\uFFFF':
                    throw new FormatException($"entity {_entity.EntityName}, column {column.Name}: U+{(int)c:X4} cannot appear in an XML document (GML); clean the value in the source");
                default: _text.Append(c); break;
            }
        }
    }

    private void AppendGeometry(Geometry geometry, string id, bool top)
    {
        var srs = top ? $" srsName=\"{_geometry.Crs.SrsName}\"" : "";
        switch (geometry)
        {
            case Point p:
                _text.Append("<gml:Point gml:id=\"").Append(id).Append('"').Append(srs).Append('>').Append(_hasZ ? "<gml:pos srsDimension=\"3\">" : "<gml:pos>");
                AppendCoordinates(p.CoordinateSequence);
                _text.Append("</gml:pos></gml:Point>");
                break;
            case LinearRing:
                throw new FormatException($"entity {_entity.EntityName}: a bare LinearRing is not a feature geometry");
            case LineString l:
                _text.Append("<gml:LineString gml:id=\"").Append(id).Append('"').Append(srs).Append('>').Append(PosList);
                AppendCoordinates(l.CoordinateSequence);
                _text.Append("</gml:posList></gml:LineString>");
                break;
            case Polygon polygon:
                _text.Append("<gml:Polygon gml:id=\"").Append(id).Append('"').Append(srs).Append('>');
                if (!polygon.IsEmpty)
                {
                    _text.Append("<gml:exterior><gml:LinearRing>").Append(PosList);
                    AppendCoordinates(polygon.ExteriorRing.CoordinateSequence);
                    _text.Append("</gml:posList></gml:LinearRing></gml:exterior>");
                    foreach (var hole in polygon.InteriorRings)
                    {
                        _text.Append("<gml:interior><gml:LinearRing>").Append(PosList);
                        AppendCoordinates(hole.CoordinateSequence);
                        _text.Append("</gml:posList></gml:LinearRing></gml:interior>");
                    }
                }

                _text.Append("</gml:Polygon>");
                break;
            case GeometryCollection collection:
                var (element, member) = collection switch
                {
                    MultiPoint => ("MultiPoint", "pointMember"),
                    MultiLineString => ("MultiCurve", "curveMember"),
                    MultiPolygon => ("MultiSurface", "surfaceMember"),
                    _ => ("MultiGeometry", "geometryMember"),
                };
                _text.Append("<gml:").Append(element).Append(" gml:id=\"").Append(id).Append('"').Append(srs).Append('>');
                for (var i = 0; i < collection.NumGeometries; i++)
                {
                    _text.Append("<gml:").Append(member).Append('>');
                    AppendGeometry(collection.GetGeometryN(i), $"{id}.{i.ToString(CultureInfo.InvariantCulture)}", top: false);
                    _text.Append("</gml:").Append(member).Append('>');
                }

                _text.Append("</gml:").Append(element).Append('>');
                break;
            default:
                throw new FormatException($"entity {_entity.EntityName}: geometry type {geometry.GeometryType} has no GML spelling here");
        }
    }

    private string PosList => _hasZ ? "<gml:posList srsDimension=\"3\">" : "<gml:posList>";

    private void AppendCoordinates(CoordinateSequence sequence)
    {
        // The EPSG axis order, which the URN srsName promises: latitude first for geographic CRSs.
        var latFirst = _geometry.Crs.Geographic;
        for (var i = 0; i < sequence.Count; i++)
        {
            if (i > 0)
            {
                _text.Append(' ');
            }

            var (first, second) = latFirst ? (sequence.GetY(i), sequence.GetX(i)) : (sequence.GetX(i), sequence.GetY(i));
            // Formatted into the builder: no string per ordinate.
            _text.Append(CultureInfo.InvariantCulture, $"{first:R} {second:R}");
            if (_hasZ)
            {
                // A part without a Z in a geometry with one (a mixed collection) has none to give.
                var z = sequence.HasZ ? sequence.GetZ(i) : double.NaN;
                if (double.IsNaN(z))
                {
                    throw new FormatException($"entity {_entity.EntityName}, column {_geometryColumn}: a geometry mixes positions with and without a Z, which one GML geometry of srsDimension 3 cannot hold");
                }

                _text.Append(CultureInfo.InvariantCulture, $" {z:R}");
            }
        }
    }
}

/// <summary>The GML application schema (XSD) of an entity, in the form GDAL reads (types and CRS).</summary>
internal static class GmlSchema
{
    public static string Write(GmlFormat format, EntityGeometry entity, IReadOnlyList<Column> columns, Crs crs)
    {
        var name = entity.EntityName;
        var s = new StringBuilder();
        s.Append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .Append("<xs:schema targetNamespace=\"").Append(format.Namespace).Append("\" xmlns:bx=\"").Append(format.Namespace)
            .Append("\" xmlns:gml=\"").Append(GmlFormat.GmlNamespace).Append("\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" elementFormDefault=\"qualified\" version=\"1.0\">\n")
            .Append("  <xs:import namespace=\"").Append(GmlFormat.GmlNamespace).Append("\" schemaLocation=\"http://schemas.opengis.net/gml/3.2.1/gml.xsd\"/>\n")
            .Append("  <xs:element name=\"FeatureCollection\" type=\"bx:FeatureCollectionType\" substitutionGroup=\"gml:AbstractFeature\"/>\n")
            .Append("  <xs:complexType name=\"FeatureCollectionType\"><xs:complexContent><xs:extension base=\"gml:AbstractFeatureType\"><xs:sequence>\n")
            .Append("    <xs:element name=\"featureMember\" minOccurs=\"0\" maxOccurs=\"unbounded\"><xs:complexType><xs:complexContent><xs:extension base=\"gml:AbstractFeatureMemberType\"><xs:sequence>")
            .Append("<xs:element ref=\"gml:AbstractFeature\"/></xs:sequence></xs:extension></xs:complexContent></xs:complexType></xs:element>\n")
            .Append("  </xs:sequence></xs:extension></xs:complexContent></xs:complexType>\n")
            .Append("  <xs:element name=\"").Append(name).Append("\" type=\"bx:").Append(name).Append("Type\" substitutionGroup=\"gml:AbstractFeature\"/>\n")
            .Append("  <xs:complexType name=\"").Append(name).Append("Type\"><xs:complexContent><xs:extension base=\"gml:AbstractFeatureType\"><xs:sequence>\n");
        foreach (var column in columns)
        {
            var type = column.Kind switch
            {
                ColumnKind.Integer => "xs:long",
                // As GPKG: a decimal a double holds exactly is numeric for GDAL and QGIS, a longer one
                // stays text so no reader rounds it.
                ColumnKind.Decimal => GeoPackageFile.DecimalFitsDouble(column.SqlType) ? "xs:decimal" : "xs:string",
                ColumnKind.Float => "xs:double",
                ColumnKind.Boolean => "xs:boolean",
                ColumnKind.Date => "xs:date",
                ColumnKind.Timestamp or ColumnKind.TimestampTz => "xs:dateTime",
                // Bytes are base64 text; declared xs:string because GDAL gives up on a schema with
                // xs:base64Binary and guesses every type from the data instead.
                ColumnKind.Geometry => format.PropertyType(column.Name),
                _ => "xs:string",
            };
            s.Append("    <xs:element name=\"").Append(column.Name).Append("\" type=\"").Append(type).Append("\" minOccurs=\"0\"/>");
            if (column.Kind == ColumnKind.Geometry)
            {
                // Where GDAL reads a geometry property's CRS from a schema (the convention of its own GML writer).
                s.Append("<!-- srsName=\"").Append(crs.SrsName).Append("\" -->");
            }

            s.Append('\n');
        }

        s.Append("  </xs:sequence></xs:extension></xs:complexContent></xs:complexType>\n</xs:schema>\n");
        return s.ToString();
    }
}
