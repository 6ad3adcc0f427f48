using System.Globalization;
using System.Text;
using System.Text.Json;

namespace BulkExport.Exporter.Sources;

/// <summary>
/// Converts between the two geometry spellings the formats use (GeoJSON for JSON formats, WKT for
/// CSV), for sources that hold only one of them. Covers the seven OGC simple-feature types.
/// </summary>
internal static class GeometryText
{
    public static GeometryValue FromGeoJson(string geoJson)
    {
        using var document = JsonDocument.Parse(geoJson);
        var wkt = new StringBuilder();
        WriteWkt(document.RootElement, wkt);
        return new GeometryValue(geoJson, wkt.ToString());
    }

    public static GeometryValue FromWkt(string wkt)
    {
        var parser = new WktParser(wkt);
        var json = new StringBuilder();
        parser.ParseGeometry(json);
        parser.ExpectEnd();
        return new GeometryValue(json.ToString(), wkt.Trim());
    }

    private static void WriteWkt(JsonElement geometry, StringBuilder wkt)
    {
        var type = geometry.TryGetProperty("type", out var t) ? t.GetString() : null;
        switch (type)
        {
            case "Point":
                wkt.Append("POINT ");
                Coordinates(geometry, 0, wkt);
                break;
            case "LineString":
                wkt.Append("LINESTRING ");
                Coordinates(geometry, 1, wkt);
                break;
            case "Polygon":
                wkt.Append("POLYGON ");
                Coordinates(geometry, 2, wkt);
                break;
            case "MultiPoint":
                wkt.Append("MULTIPOINT ");
                Coordinates(geometry, 1, wkt);
                break;
            case "MultiLineString":
                wkt.Append("MULTILINESTRING ");
                Coordinates(geometry, 2, wkt);
                break;
            case "MultiPolygon":
                wkt.Append("MULTIPOLYGON ");
                Coordinates(geometry, 3, wkt);
                break;
            case "GeometryCollection":
                wkt.Append("GEOMETRYCOLLECTION (");
                var first = true;
                foreach (var member in geometry.GetProperty("geometries").EnumerateArray())
                {
                    if (!first)
                    {
                        wkt.Append(", ");
                    }

                    WriteWkt(member, wkt);
                    first = false;
                }

                wkt.Append(')');
                break;
            default:
                throw new FormatException($"'{type ?? "(no type)"}' is not a GeoJSON geometry type");
        }
    }

    private static void Coordinates(JsonElement geometry, int depth, StringBuilder wkt)
    {
        var coordinates = geometry.GetProperty("coordinates");
        if (coordinates.GetArrayLength() == 0)
        {
            wkt.Append("EMPTY");
            return;
        }

        Nested(coordinates, depth, wkt);
    }

    private static void Nested(JsonElement array, int depth, StringBuilder wkt)
    {
        if (depth == 0)
        {
            wkt.Append('(');
            Position(array, wkt);
            wkt.Append(')');
            return;
        }

        wkt.Append('(');
        var first = true;
        foreach (var item in array.EnumerateArray())
        {
            if (!first)
            {
                wkt.Append(", ");
            }

            if (depth == 1)
            {
                Position(item, wkt);
            }
            else
            {
                Nested(item, depth - 1, wkt);
            }

            first = false;
        }

        wkt.Append(')');
    }

    private static void Position(JsonElement position, StringBuilder wkt)
    {
        var first = true;
        foreach (var ordinate in position.EnumerateArray())
        {
            if (!first)
            {
                wkt.Append(' ');
            }

            wkt.Append(ordinate.GetRawText());
            first = false;
        }
    }

    private ref struct WktParser(string text)
    {
        private readonly string _text = text;
        private int _at;

        public void ParseGeometry(StringBuilder json)
        {
            var word = Word().ToUpperInvariant();
            var (type, depth) = word switch
            {
                "POINT" => ("Point", 0),
                "LINESTRING" => ("LineString", 1),
                "POLYGON" => ("Polygon", 2),
                "MULTIPOINT" => ("MultiPoint", 1),
                "MULTILINESTRING" => ("MultiLineString", 2),
                "MULTIPOLYGON" => ("MultiPolygon", 3),
                "GEOMETRYCOLLECTION" => ("GeometryCollection", -1),
                _ => throw new FormatException($"'{word}' is not a WKT geometry type"),
            };
            SkipDimensionTag();
            json.Append("{\"type\":\"").Append(type).Append("\",");
            if (depth < 0)
            {
                json.Append("\"geometries\":[");
                if (!TryEmpty())
                {
                    Expect('(');
                    do
                    {
                        ParseGeometry(json);
                    }
                    while (TryComma(json));

                    Expect(')');
                }

                json.Append("]}");
                return;
            }

            json.Append("\"coordinates\":");
            if (TryEmpty())
            {
                json.Append("[]}");
                return;
            }

            if (depth == 0)
            {
                Expect('(');
                PositionJson(json);
                Expect(')');
            }
            else
            {
                List(json, depth);
            }

            json.Append('}');
        }

        private void List(StringBuilder json, int depth)
        {
            Expect('(');
            json.Append('[');
            do
            {
                if (depth == 1)
                {
                    // MULTIPOINT accepts both "(1 2, 3 4)" and "((1 2), (3 4))".
                    SkipSpace();
                    var parenthesized = Peek() == '(';
                    if (parenthesized)
                    {
                        Expect('(');
                    }

                    PositionJson(json);
                    if (parenthesized)
                    {
                        Expect(')');
                    }
                }
                else
                {
                    List(json, depth - 1);
                }
            }
            while (TryComma(json));

            json.Append(']');
            Expect(')');
        }

        private void PositionJson(StringBuilder json)
        {
            json.Append('[');
            var first = true;
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
                if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                {
                    throw new FormatException($"'{number}' is not a coordinate");
                }

                if (!first)
                {
                    json.Append(',');
                }

                json.Append(number);
                first = false;
            }

            if (first)
            {
                throw new FormatException($"expected a coordinate at position {_at}");
            }

            json.Append(']');
        }

        private string Word()
        {
            SkipSpace();
            var start = _at;
            while (_at < _text.Length && char.IsAsciiLetter(_text[_at]))
            {
                _at++;
            }

            return _text[start.._at];
        }

        private void SkipDimensionTag()
        {
            SkipSpace();
            var save = _at;
            var word = Word().ToUpperInvariant();
            if (word is not ("Z" or "M" or "ZM"))
            {
                _at = save;
            }
        }

        private bool TryEmpty()
        {
            SkipSpace();
            if (_text.AsSpan(_at).StartsWith("EMPTY", StringComparison.OrdinalIgnoreCase))
            {
                _at += 5;
                return true;
            }

            return false;
        }

        private bool TryComma(StringBuilder json)
        {
            SkipSpace();
            if (Peek() == ',')
            {
                _at++;
                json.Append(',');
                return true;
            }

            return false;
        }

        private void Expect(char c)
        {
            SkipSpace();
            if (Peek() != c)
            {
                throw new FormatException($"expected '{c}' at position {_at} of the WKT");
            }

            _at++;
        }

        public void ExpectEnd()
        {
            SkipSpace();
            if (_at != _text.Length)
            {
                throw new FormatException($"unexpected text at position {_at} of the WKT");
            }
        }

        private readonly char Peek() => _at < _text.Length ? _text[_at] : '\0';

        private void SkipSpace()
        {
            while (_at < _text.Length && char.IsWhiteSpace(_text[_at]))
            {
                _at++;
            }
        }
    }
}
