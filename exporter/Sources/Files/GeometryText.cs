using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources.Files;

/// <summary>
/// Converts between the two geometry spellings a file may hold (a GeoJSON geometry object, or WKT /
/// EWKT text) so a file-fed entity's geometry column becomes a <see cref="GeometryValue"/> with both,
/// as the GEOJSON and CSV formats need. Coordinates keep their original digits.
/// </summary>
internal static class GeometryText
{
    private static readonly string[] TypeNames =
        ["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon", "GeometryCollection"];

    /// <summary>From a JSON value: a GeoJSON geometry object, or a string holding WKT/EWKT or GeoJSON.</summary>
    public static GeometryValue FromJson(ReadOnlySpan<byte> json)
    {
        using var doc = JsonDocument.Parse(json.ToArray());
        return doc.RootElement.ValueKind == JsonValueKind.String
            ? FromText(doc.RootElement.GetString()!)
            : FromGeoJson(doc.RootElement);
    }

    /// <summary>From text: GeoJSON when it starts with '{', WKT or EWKT (<c>SRID=n;…</c>) otherwise.</summary>
    public static GeometryValue FromText(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.StartsWith('{'))
        {
            using var doc = JsonDocument.Parse(trimmed);
            return FromGeoJson(doc.RootElement);
        }

        int? srid = null;
        if (trimmed.StartsWith("SRID=", StringComparison.OrdinalIgnoreCase))
        {
            var semicolon = trimmed.IndexOf(';', StringComparison.Ordinal);
            if (semicolon < 0 || !int.TryParse(trimmed.AsSpan(5, semicolon - 5), NumberStyles.None, CultureInfo.InvariantCulture, out var s))
            {
                throw new FormatException("Malformed EWKT SRID prefix.");
            }

            srid = s;
            trimmed = trimmed[(semicolon + 1)..].Trim();
        }

        var parser = new WktParser(trimmed);
        var output = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(output))
        {
            parser.ParseGeometry(writer);
            parser.ExpectEnd();
        }

        return new GeometryValue(Encoding.UTF8.GetString(output.WrittenSpan), trimmed, srid);
    }

    private static GeometryValue FromGeoJson(JsonElement geometry)
    {
        var wkt = new StringBuilder();
        AppendWkt(geometry, wkt);
        // Re-serialised compactly, so the file's own whitespace does not leak into every format.
        var compact = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(compact))
        {
            geometry.WriteTo(writer);
        }

        return new GeometryValue(Encoding.UTF8.GetString(compact.WrittenSpan), wkt.ToString());
    }

    private static void AppendWkt(JsonElement geometry, StringBuilder wkt)
    {
        if (geometry.ValueKind != JsonValueKind.Object || !geometry.TryGetProperty("type", out var typeElement))
        {
            throw new FormatException("A GeoJSON geometry must be an object with a \"type\".");
        }

        var type = typeElement.GetString();
        if (Array.IndexOf(TypeNames, type) < 0)
        {
            throw new FormatException($"Unknown GeoJSON geometry type '{type}'.");
        }

        wkt.Append(type!.ToUpperInvariant());
        if (type == "GeometryCollection")
        {
            var members = geometry.GetProperty("geometries");
            if (members.GetArrayLength() == 0)
            {
                wkt.Append(" EMPTY");
                return;
            }

            wkt.Append('(');
            var first = true;
            foreach (var member in members.EnumerateArray())
            {
                if (!first)
                {
                    wkt.Append(',');
                }

                first = false;
                AppendWkt(member, wkt);
            }

            wkt.Append(')');
            return;
        }

        var coordinates = geometry.GetProperty("coordinates");
        if (coordinates.GetArrayLength() == 0)
        {
            wkt.Append(" EMPTY");
            return;
        }

        // Nesting depth of the coordinates: Point 0, LineString/MultiPoint 1, Polygon/MultiLineString 2, MultiPolygon 3.
        var depth = type switch
        {
            "Point" => 0,
            "LineString" or "MultiPoint" => 1,
            "Polygon" or "MultiLineString" => 2,
            _ => 3,
        };
        // ISO WKT tags a third (and fourth) ordinate: untagged, "POINT(1 2 3)" is no WKT a strict
        // reader takes, so GPKG, GML and PARQUET could not read a GeoJSON Z back (an M is refused there).
        var position = coordinates;
        for (var level = 0; level < depth && position.ValueKind == JsonValueKind.Array && position.GetArrayLength() > 0; level++)
        {
            position = position[0];
        }

        var ordinates = position.ValueKind == JsonValueKind.Array ? position.GetArrayLength() : 2;
        wkt.Append(ordinates switch { 3 => " Z", 4 => " ZM", _ => "" });
        AppendCoordinates(coordinates, depth, wkt);
    }

    private static void AppendCoordinates(JsonElement element, int depth, StringBuilder wkt)
    {
        wkt.Append('(');
        if (depth == 0)
        {
            AppendPosition(element, wkt);
        }
        else
        {
            var first = true;
            foreach (var item in element.EnumerateArray())
            {
                if (!first)
                {
                    wkt.Append(',');
                }

                first = false;
                if (depth == 1)
                {
                    AppendPosition(item, wkt);
                }
                else
                {
                    AppendCoordinates(item, depth - 1, wkt);
                }
            }
        }

        wkt.Append(')');
    }

    private static void AppendPosition(JsonElement position, StringBuilder wkt)
    {
        var first = true;
        foreach (var ordinate in position.EnumerateArray())
        {
            if (ordinate.ValueKind != JsonValueKind.Number)
            {
                throw new FormatException("GeoJSON coordinates must be numbers.");
            }

            if (!first)
            {
                wkt.Append(' ');
            }

            first = false;
            wkt.Append(ordinate.GetRawText());
        }
    }

    /// <summary>A small recursive-descent WKT reader that writes the GeoJSON equivalent as it goes.</summary>
    private ref struct WktParser(string text)
    {
        private readonly string _text = text;
        private int _at;

        public void ParseGeometry(Utf8JsonWriter writer)
        {
            var word = ReadWord().ToUpperInvariant();
            var type = Array.Find(TypeNames, t => t.Equals(word, StringComparison.OrdinalIgnoreCase))
                ?? throw new FormatException($"Unknown WKT geometry type '{word}'.");
            SkipDimensionTag();
            writer.WriteStartObject();
            writer.WriteString("type", type);
            var empty = PeekWord().Equals("EMPTY", StringComparison.OrdinalIgnoreCase);
            if (empty)
            {
                ReadWord();
            }

            if (type == "GeometryCollection")
            {
                writer.WriteStartArray("geometries");
                if (!empty)
                {
                    Expect('(');
                    do
                    {
                        ParseGeometry(writer);
                    }
                    while (TryConsume(','));
                    Expect(')');
                }

                writer.WriteEndArray();
            }
            else
            {
                writer.WritePropertyName("coordinates");
                if (empty)
                {
                    writer.WriteStartArray();
                    writer.WriteEndArray();
                }
                else
                {
                    var depth = type switch
                    {
                        "Point" => 0,
                        "LineString" => 1,
                        "MultiPoint" => -1, // members may or may not be parenthesised
                        "Polygon" or "MultiLineString" => 2,
                        _ => 3,
                    };
                    ParseCoordinates(writer, depth);
                }
            }

            writer.WriteEndObject();
        }

        public void ExpectEnd()
        {
            SkipSpace();
            if (_at != _text.Length)
            {
                throw new FormatException($"Unexpected text after the WKT geometry at {_at}.");
            }
        }

        private void ParseCoordinates(Utf8JsonWriter writer, int depth)
        {
            Expect('(');
            if (depth == 0)
            {
                ParsePosition(writer);
            }
            else
            {
                writer.WriteStartArray();
                do
                {
                    if (depth == -1)
                    {
                        if (TryConsume('('))
                        {
                            ParsePosition(writer);
                            Expect(')');
                        }
                        else
                        {
                            ParsePosition(writer);
                        }
                    }
                    else if (depth == 1)
                    {
                        ParsePosition(writer);
                    }
                    else
                    {
                        ParseCoordinates(writer, depth - 1);
                    }
                }
                while (TryConsume(','));
                writer.WriteEndArray();
            }

            Expect(')');
        }

        private void ParsePosition(Utf8JsonWriter writer)
        {
            writer.WriteStartArray();
            var count = 0;
            while (true)
            {
                SkipSpace();
                var start = _at;
                while (_at < _text.Length && (char.IsAsciiDigit(_text[_at]) || _text[_at] is '-' or '+' or '.' or 'e' or 'E'))
                {
                    _at++;
                }

                if (_at == start)
                {
                    break;
                }

                var number = _text[start.._at];
                if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    throw new FormatException($"'{number}' is not a WKT coordinate.");
                }

                if (Formats.ScalarText.IsJsonNumber(number))
                {
                    writer.WriteRawValue(number, skipInputValidation: true);
                }
                else
                {
                    writer.WriteNumberValue(value);
                }

                count++;
            }

            if (count < 2)
            {
                throw new FormatException($"A WKT position needs at least two coordinates (at {_at}).");
            }

            writer.WriteEndArray();
        }

        private void SkipDimensionTag()
        {
            var word = PeekWord();
            if (word.Equals("Z", StringComparison.OrdinalIgnoreCase) || word.Equals("M", StringComparison.OrdinalIgnoreCase) || word.Equals("ZM", StringComparison.OrdinalIgnoreCase))
            {
                ReadWord();
            }
        }

        private string PeekWord()
        {
            var saved = _at;
            var word = ReadWord();
            _at = saved;
            return word;
        }

        private string ReadWord()
        {
            SkipSpace();
            var start = _at;
            while (_at < _text.Length && char.IsAsciiLetter(_text[_at]))
            {
                _at++;
            }

            return _text[start.._at];
        }

        private bool TryConsume(char c)
        {
            SkipSpace();
            if (_at < _text.Length && _text[_at] == c)
            {
                _at++;
                return true;
            }

            return false;
        }

        private void Expect(char c)
        {
            if (!TryConsume(c))
            {
                throw new FormatException($"Expected '{c}' at {_at} of the WKT geometry.");
            }
        }

        private void SkipSpace()
        {
            while (_at < _text.Length && char.IsWhiteSpace(_text[_at]))
            {
                _at++;
            }
        }
    }
}
