using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Xml;
using System.Xml.Linq;

namespace BulkExport.Publishing.Verification;

/// <summary>
/// GML 3.2: rebuilds each feature's JSON row from the document, typed by the application schema (XSD)
/// in the same zip: every element of the feature type is a column, in the schema's order; an absent
/// property is NULL; <c>xs:long</c>/<c>xs:decimal</c>/<c>xs:double</c> are numbers (<c>NaN</c>, <c>INF</c>,
/// <c>-INF</c> the strings <c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>), <c>xs:boolean</c> a boolean,
/// dates and strings strings (a JSON, array or long-decimal column known from <see cref="ColumnTypes"/>
/// is its JSON); a geometry property is GeoJSON, its axes put back in x/y order when the <c>srsName</c>
/// URN is a geographic CRS (latitude first), with PostGIS's short <c>crs</c> member for an SRID other than 4326.
/// </summary>
internal sealed class GmlRecordReader : IPublishedRecordReader
{
    private const string GmlNamespace = "http://www.opengis.net/gml/3.2";
    private const string XsdNamespace = "http://www.w3.org/2001/XMLSchema";

    /// <summary>The geographic CRSs of the exporter's built-in table (and NAD83): the EPSG axis order puts latitude first.</summary>
    private static readonly HashSet<int> Geographic = [4326, 4258, 4269];

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    public IReadOnlyList<string> Formats { get; } = ["GML"];

    public string RecordsLabel => "feature(s) at line";

    public bool UsesColumnTypes => true;

    public bool SpellsCrs => true;

    // No caveat: positions keep a Z (srsDimension 3), and the exporter refuses an M rather than drop it.

    public async IAsyncEnumerable<PublishedRecord> ReadAsync(RecordSource source, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var file = source.Row.ContainedFileName;
        var xsdName = Path.ChangeExtension(file, ".xsd");
        var xsdEntry = source.Zip.GetEntry(xsdName) ?? throw new InvalidDataException($"{source.Row.Key}: the zip has no {xsdName}, the schema that types the GML");
        List<(string Name, string Type)> columns;
        await using (var xsd = xsdEntry.Open())
        {
            columns = ReadSchema(xsd, xsdName, source.Row.EntityName);
        }

        var index = columns.Select((c, i) => (c.Name, i)).ToDictionary(c => c.Name, c => c.i, StringComparer.Ordinal);
        source.UntypedColumns.UnionWith(columns.Where(c => c.Type == "xs:string" && source.Types?.For(c.Name) is null).Select(c => c.Name));
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null, Async = false, IgnoreComments = true };
        await using var stream = PublishedRecordReaders.DataEntry(source).Open();
        using var xml = XmlReader.Create(stream, settings);
        var lines = (IXmlLineInfo)xml;
        var buffer = new ArrayBufferWriter<byte>(512);
        var values = new XElement?[columns.Count];
        if (xml.MoveToContent() != XmlNodeType.Element || xml.LocalName != "FeatureCollection")
        {
            throw new InvalidDataException($"{file}:{lines.LineNumber}: the root element is {xml.Name}, not a FeatureCollection");
        }

        while (Next(xml, file))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (xml.NodeType != XmlNodeType.Element)
            {
                continue;
            }

            var line = lines.LineNumber;
            if (xml.LocalName != "featureMember")
            {
                throw new InvalidDataException($"{file}:{line}: element {xml.Name} in the FeatureCollection is not a featureMember");
            }

            XElement member;
            using (var subtree = xml.ReadSubtree())
            {
                member = XElement.Load(subtree, LoadOptions.PreserveWhitespace);
            }

            var feature = member.Elements().SingleOrDefault() ?? throw new InvalidDataException($"{file}:{line}: a featureMember without one feature");
            Array.Clear(values);
            foreach (var property in feature.Elements())
            {
                var name = property.Name.LocalName;
                if (!index.TryGetValue(name, out var at))
                {
                    throw new InvalidDataException($"{file}:{line}: property '{name}' is not an element of {xsdName}");
                }

                if (values[at] is not null)
                {
                    throw new InvalidDataException($"{file}:{line}: property '{name}' appears twice");
                }

                values[at] = property;
            }

            buffer.ResetWrittenCount();
            using (var json = new Utf8JsonWriter(buffer, WriterOptions))
            {
                json.WriteStartObject();
                for (var i = 0; i < columns.Count; i++)
                {
                    var (name, type) = columns[i];
                    json.WritePropertyName(name);
                    try
                    {
                        WriteValue(json, values[i], type, source.Types?.For(name), source.CrsMember);
                    }
                    catch (FormatException e)
                    {
                        throw new InvalidDataException($"{file}:{line}: column '{name}' ({type}): {e.Message}", e);
                    }
                }

                json.WriteEndObject();
            }

            yield return new PublishedRecord(line, buffer.WrittenSpan.ToArray());
        }
    }

    /// <summary>Reads past the element the reader is on (a loaded featureMember) or to the next node; false at the collection's end.</summary>
    private static bool Next(XmlReader xml, string file)
    {
        try
        {
            if (!xml.Read())
            {
                return false;
            }

            return !(xml.NodeType == XmlNodeType.EndElement && xml.Depth == 0);
        }
        catch (XmlException e)
        {
            throw new InvalidDataException($"{file}:{e.LineNumber}: not well-formed XML: {e.Message}", e);
        }
    }

    /// <summary>The columns of the feature type <c>{entity}Type</c>: its elements' names and types, in order.</summary>
    internal static List<(string Name, string Type)> ReadSchema(Stream xsd, string name, string entity)
    {
        XDocument document;
        try
        {
            document = XDocument.Load(XmlReader.Create(xsd, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null }));
        }
        catch (XmlException e)
        {
            throw new InvalidDataException($"{name}:{e.LineNumber}: not well-formed XML: {e.Message}", e);
        }

        XNamespace xs = XsdNamespace;
        var type = document.Root?.Elements(xs + "complexType").FirstOrDefault(t => (string?)t.Attribute("name") == entity + "Type")
            ?? throw new InvalidDataException($"{name}: no complexType {entity}Type, the feature type of entity {entity}");
        var columns = type.Descendants(xs + "element")
            .Select(e => ((string?)e.Attribute("name") ?? "", (string?)e.Attribute("type") ?? ""))
            .ToList();
        if (columns.Count == 0 || columns.Any(c => c.Item1.Length == 0 || c.Item2.Length == 0))
        {
            throw new InvalidDataException($"{name}: the elements of {entity}Type need a name and a type each");
        }

        return columns;
    }

    private static void WriteValue(Utf8JsonWriter json, XElement? property, string type, CsvRecordReader.DdlColumn? column, bool crsMember)
    {
        if (property is null)
        {
            json.WriteNullValue();
            return;
        }

        if (type.StartsWith("gml:", StringComparison.Ordinal))
        {
            var geometry = property.Elements().SingleOrDefault() ?? throw new FormatException("a geometry property without one geometry");
            WriteGeometry(json, geometry, top: true, latitudeFirst: false, crsMember);
            return;
        }

        if (property.HasElements)
        {
            throw new FormatException("a property of a simple type holds elements");
        }

        var text = property.Value;
        switch (type)
        {
            case "xs:long" or "xs:integer" or "xs:int":
                CsvRecordReader.WriteScalar(json, new CsvRecordReader.DdlColumn("", type, CsvRecordReader.Kind.Integer, false, null), text);
                break;
            case "xs:decimal":
                CsvRecordReader.WriteScalar(json, new CsvRecordReader.DdlColumn("", type, CsvRecordReader.Kind.Decimal, false, null), text);
                break;
            case "xs:double" or "xs:float":
                CsvRecordReader.WriteScalar(json, new CsvRecordReader.DdlColumn("", type, CsvRecordReader.Kind.Float, false, null), text switch
                {
                    "INF" => "Infinity",
                    "-INF" => "-Infinity",
                    _ => text,
                });
                break;
            case "xs:boolean":
                json.WriteBooleanValue(text switch
                {
                    "true" or "1" => true,
                    "false" or "0" => false,
                    _ => throw new FormatException($"'{text}' is not an xs:boolean"),
                });
                break;
            case "xs:date" or "xs:dateTime":
                json.WriteStringValue(text);
                break;
            case "xs:string":
                ColumnTypes.WriteText(json, column, text);
                break;
            default:
                throw new FormatException($"type {type} is not one the exporter writes");
        }
    }

    private static void WriteGeometry(Utf8JsonWriter json, XElement geometry, bool top, bool latitudeFirst, bool crsMember = false)
    {
        if (geometry.Name.Namespace != GmlNamespace)
        {
            throw new FormatException($"{geometry.Name} is not a GML geometry");
        }

        int? crs = null;
        if (top)
        {
            var srsName = (string?)geometry.Attribute("srsName") ?? throw new FormatException($"gml:{geometry.Name.LocalName} has no srsName");
            var (srid, axisOrder) = ParseSrsName(srsName);
            latitudeFirst = axisOrder && Geographic.Contains(srid);
            crs = srid is 0 or 4326 || !crsMember ? null : srid;
        }

        var kind = geometry.Name.LocalName;
        var type = kind switch
        {
            "Point" => "Point",
            "LineString" => "LineString",
            "Polygon" => "Polygon",
            "MultiPoint" => "MultiPoint",
            "MultiCurve" => "MultiLineString",
            "MultiSurface" => "MultiPolygon",
            "MultiGeometry" => "GeometryCollection",
            _ => throw new FormatException($"gml:{kind} is not a geometry the exporter writes"),
        };
        json.WriteStartObject();
        json.WriteString("type", type);
        if (crs is { } code)
        {
            WkbToGeoJson.WriteCrs(json, code);
        }

        if (type == "GeometryCollection")
        {
            json.WriteStartArray("geometries");
            foreach (var member in Members(geometry, "geometryMember"))
            {
                WriteGeometry(json, member, top: false, latitudeFirst);
            }

            json.WriteEndArray();
        }
        else
        {
            json.WritePropertyName("coordinates");
            WriteCoordinates(json, geometry, latitudeFirst);
        }

        json.WriteEndObject();
    }

    private static void WriteCoordinates(Utf8JsonWriter json, XElement geometry, bool latitudeFirst)
    {
        switch (geometry.Name.LocalName)
        {
            case "Point":
                if (Gml(geometry, "pos") is { } pos)
                {
                    var positions = Positions(pos, latitudeFirst);
                    WritePosition(json, positions.Count == 1 ? positions[0] : throw new FormatException("a gml:pos with other than one position"));
                }
                else
                {
                    json.WriteStartArray();
                    json.WriteEndArray();
                }

                break;
            case "LineString":
                WritePositions(json, Gml(geometry, "posList") is { } list ? Positions(list, latitudeFirst) : []);
                break;
            case "Polygon":
                json.WriteStartArray();
                foreach (var ring in geometry.Elements().Where(e => e.Name.LocalName is "exterior" or "interior"))
                {
                    var linear = Gml(ring, "LinearRing") ?? throw new FormatException($"gml:{ring.Name.LocalName} without a gml:LinearRing");
                    WritePositions(json, Positions(Gml(linear, "posList") ?? throw new FormatException("a gml:LinearRing without a gml:posList"), latitudeFirst));
                }

                json.WriteEndArray();
                break;
            case "MultiPoint" or "MultiCurve" or "MultiSurface":
                var (memberName, part) = geometry.Name.LocalName switch
                {
                    "MultiPoint" => ("pointMember", "Point"),
                    "MultiCurve" => ("curveMember", "LineString"),
                    _ => ("surfaceMember", "Polygon"),
                };
                json.WriteStartArray();
                foreach (var member in Members(geometry, memberName))
                {
                    if (member.Name.LocalName != part)
                    {
                        throw new FormatException($"a gml:{memberName} holds gml:{member.Name.LocalName}, not gml:{part}");
                    }

                    WriteCoordinates(json, member, latitudeFirst);
                }

                json.WriteEndArray();
                break;
            default:
                throw new FormatException($"gml:{geometry.Name.LocalName} is not a geometry the exporter writes");
        }
    }

    private static IEnumerable<XElement> Members(XElement geometry, string memberName) =>
        geometry.Elements().Select(m => m.Name.LocalName == memberName
            ? m.Elements().SingleOrDefault() ?? throw new FormatException($"a gml:{memberName} without one geometry")
            : throw new FormatException($"gml:{m.Name.LocalName} inside gml:{geometry.Name.LocalName}"));

    private static XElement? Gml(XElement parent, string name) => parent.Element(XName.Get(name, GmlNamespace));

    /// <summary>The positions of a pos or posList (srsDimension 2 unless it says otherwise), each ordinate's text kept.</summary>
    private static List<string[]> Positions(XElement element, bool latitudeFirst)
    {
        var dimension = (string?)element.Attribute("srsDimension") is { } d
            ? int.Parse(d, NumberStyles.None, CultureInfo.InvariantCulture)
            : 2;
        var numbers = element.Value.Split([' ', '\n', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
        if (dimension < 2 || numbers.Length % dimension != 0)
        {
            throw new FormatException($"{numbers.Length} ordinates do not make positions of {dimension}");
        }

        var positions = new List<string[]>(numbers.Length / dimension);
        for (var i = 0; i < numbers.Length; i += dimension)
        {
            var position = numbers[i..(i + dimension)];
            if (latitudeFirst)
            {
                (position[0], position[1]) = (position[1], position[0]);
            }

            positions.Add(position);
        }

        return positions;
    }

    private static void WritePositions(Utf8JsonWriter json, List<string[]> positions)
    {
        json.WriteStartArray();
        foreach (var position in positions)
        {
            WritePosition(json, position);
        }

        json.WriteEndArray();
    }

    private static void WritePosition(Utf8JsonWriter json, string[] position)
    {
        json.WriteStartArray();
        foreach (var ordinate in position)
        {
            if (ScalarNumber(ordinate))
            {
                json.WriteRawValue(ordinate, skipInputValidation: true);
            }
            else if (double.TryParse(ordinate, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                WkbToGeoJson.WriteCoordinate(json, value);
            }
            else
            {
                throw new FormatException($"'{ordinate}' is not a coordinate");
            }
        }

        json.WriteEndArray();
    }

    /// <summary>Text that is a JSON number as it stands.</summary>
    private static bool ScalarNumber(string text)
    {
        try
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text));
            return reader.Read() && reader.TokenType == JsonTokenType.Number && reader.BytesConsumed == text.Length && !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>The EPSG code of an srsName, and whether its form promises the EPSG axis order (the URN and http URI forms do; <c>EPSG:n</c> is x/y).</summary>
    internal static (int Srid, bool EpsgAxisOrder) ParseSrsName(string srsName)
    {
        string[] prefixes = ["urn:ogc:def:crs:EPSG::", "urn:ogc:def:crs:EPSG:6.6:", "http://www.opengis.net/def/crs/EPSG/0/"];
        foreach (var prefix in prefixes)
        {
            if (srsName.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && int.TryParse(srsName.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var code))
            {
                return (code, true);
            }
        }

        if (srsName.StartsWith("EPSG:", StringComparison.OrdinalIgnoreCase) && int.TryParse(srsName.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var plain))
        {
            return (plain, false);
        }

        throw new FormatException($"srsName '{srsName}' names no EPSG code");
    }
}
