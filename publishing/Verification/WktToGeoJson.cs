using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BulkExport.Publishing.Verification;

/// <summary>
/// WKT (as the CSV format publishes geometry) back to the GeoJSON geometry object the JSON formats
/// publish, keeping every coordinate's digits. Written apart from the exporter's own converter on
/// purpose: verify should not trust the code whose output it checks.
/// </summary>
internal static partial class WktToGeoJson
{
    private static readonly string[] TypeNames =
        ["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon", "GeometryCollection"];

    /// <param name="srid">The column's SRID from the DDL; other than 0 and 4326 adds PostGIS's short <c>crs</c> member.</param>
    public static void Write(string wkt, int? srid, Utf8JsonWriter json)
    {
        var text = wkt.Trim();
        if (text.StartsWith("SRID=", StringComparison.OrdinalIgnoreCase))
        {
            var semicolon = text.IndexOf(';', StringComparison.Ordinal);
            text = semicolon > 0 ? text[(semicolon + 1)..] : throw new FormatException("malformed EWKT SRID prefix");
        }

        var parser = new Parser(text);
        parser.Geometry(json, srid is { } s && s != 0 && s != 4326 ? s : null);
        parser.End();
    }

    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")]
    private static partial Regex JsonNumber();

    private ref struct Parser(string text)
    {
        private readonly string _text = text;
        private int _at;

        public void Geometry(Utf8JsonWriter json, int? crs)
        {
            var word = Word();
            var type = Array.Find(TypeNames, t => t.Equals(word, StringComparison.OrdinalIgnoreCase))
                ?? throw new FormatException($"'{word}' is not a WKT geometry type");
            var tag = PeekWord();
            if (tag.Equals("Z", StringComparison.OrdinalIgnoreCase) || tag.Equals("M", StringComparison.OrdinalIgnoreCase) || tag.Equals("ZM", StringComparison.OrdinalIgnoreCase))
            {
                Word();
            }

            json.WriteStartObject();
            json.WriteString("type", type);
            if (crs is { } srid)
            {
                json.WriteStartObject("crs");
                json.WriteString("type", "name");
                json.WriteStartObject("properties");
                json.WriteString("name", "EPSG:" + srid.ToString(CultureInfo.InvariantCulture));
                json.WriteEndObject();
                json.WriteEndObject();
            }

            var empty = PeekWord().Equals("EMPTY", StringComparison.OrdinalIgnoreCase);
            if (empty)
            {
                Word();
            }

            if (type == "GeometryCollection")
            {
                json.WriteStartArray("geometries");
                if (!empty)
                {
                    Expect('(');
                    do
                    {
                        Geometry(json, null);
                    }
                    while (Consume(','));
                    Expect(')');
                }

                json.WriteEndArray();
            }
            else
            {
                json.WritePropertyName("coordinates");
                if (empty)
                {
                    json.WriteStartArray();
                    json.WriteEndArray();
                }
                else
                {
                    Coordinates(json, type switch
                    {
                        "Point" => 0,
                        "LineString" => 1,
                        "MultiPoint" => -1,
                        "Polygon" or "MultiLineString" => 2,
                        _ => 3,
                    });
                }
            }

            json.WriteEndObject();
        }

        public void End()
        {
            Space();
            if (_at != _text.Length)
            {
                throw new FormatException($"text after the WKT geometry at {_at}");
            }
        }

        private void Coordinates(Utf8JsonWriter json, int depth)
        {
            Expect('(');
            if (depth == 0)
            {
                Position(json);
            }
            else
            {
                json.WriteStartArray();
                do
                {
                    if (depth == -1)
                    {
                        // MULTIPOINT((1 2),(3 4)) and MULTIPOINT(1 2,3 4) are both WKT.
                        var parenthesised = Consume('(');
                        Position(json);
                        if (parenthesised)
                        {
                            Expect(')');
                        }
                    }
                    else if (depth == 1)
                    {
                        Position(json);
                    }
                    else
                    {
                        Coordinates(json, depth - 1);
                    }
                }
                while (Consume(','));
                json.WriteEndArray();
            }

            Expect(')');
        }

        private void Position(Utf8JsonWriter json)
        {
            json.WriteStartArray();
            var count = 0;
            while (true)
            {
                Space();
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
                if (JsonNumber().IsMatch(number))
                {
                    json.WriteRawValue(number, skipInputValidation: true);
                }
                else if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    json.WriteNumberValue(value);
                }
                else
                {
                    throw new FormatException($"'{number}' is not a WKT coordinate");
                }

                count++;
            }

            if (count < 2)
            {
                throw new FormatException($"a WKT position needs two coordinates or more (at {_at})");
            }

            json.WriteEndArray();
        }

        private string PeekWord()
        {
            var saved = _at;
            var word = Word();
            _at = saved;
            return word;
        }

        private string Word()
        {
            Space();
            var start = _at;
            while (_at < _text.Length && char.IsAsciiLetter(_text[_at]))
            {
                _at++;
            }

            return _text[start.._at];
        }

        private bool Consume(char c)
        {
            Space();
            if (_at < _text.Length && _text[_at] == c)
            {
                _at++;
                return true;
            }

            return false;
        }

        private void Expect(char c)
        {
            if (!Consume(c))
            {
                throw new FormatException($"expected '{c}' at {_at} of the WKT geometry");
            }
        }

        private void Space()
        {
            while (_at < _text.Length && char.IsWhiteSpace(_text[_at]))
            {
                _at++;
            }
        }
    }
}
