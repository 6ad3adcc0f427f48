using System.Buffers;
using System.Globalization;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BulkExport.Publishing.Verification;

/// <summary>
/// CSV: rebuilds each row's JSON object from the CSV text, typed by the <c>CREATE TABLE</c> companion
/// in the same zip. The CSV and JSON formats spell every scalar the same way (numbers, dates, uuids,
/// base64), so a value's JSON is its CSV text, quoted or not by the column's type; an empty unquoted
/// field is NULL, <c>""</c> the empty string; arrays are PostgreSQL array literals; geometry is WKT,
/// turned back into the GeoJSON object (with PostGIS's short <c>crs</c> member when the DDL declares
/// an SRID other than 4326, as <c>ST_AsGeoJSON</c> writes it).
/// </summary>
internal sealed partial class CsvRecordReader : IPublishedRecordReader
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    public IReadOnlyList<string> Formats { get; } = ["CSV"];

    internal enum Kind
    {
        Text,
        Integer,
        Decimal,
        Float,
        Boolean,
        Date,
        Timestamp,
        TimestampTz,
        Uuid,
        Json,
        Bytes,
        Geometry,
    }

    internal sealed record DdlColumn(string Name, string SqlType, Kind Kind, bool IsArray, int? Srid);

    public async IAsyncEnumerable<PublishedRecord> ReadAsync(RecordSource source, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var file = source.Row.ContainedFileName;
        var ddlName = Path.ChangeExtension(file, ".sql");
        var ddlEntry = source.Zip.GetEntry(ddlName) ?? throw new InvalidDataException($"{source.Row.Key}: the zip has no {ddlName}, the DDL that types the CSV");
        string ddl;
        using (var reader = new StreamReader(ddlEntry.Open(), Encoding.UTF8))
        {
            ddl = await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        }

        var columns = ParseDdl(ddl, ddlName);
        var entry = PublishedRecordReaders.DataEntry(source);
        using var text = new StreamReader(entry.Open(), new UTF8Encoding(false, throwOnInvalidBytes: true));
        var csv = new CsvTokenizer(text, file);
        var header = csv.ReadRecord(out _) ?? throw new InvalidDataException($"{file}:1: no header row");
        if (!header.Select(f => f.Text).SequenceEqual(columns.Select(c => c.Name)))
        {
            throw new InvalidDataException($"{file}:1: header ({string.Join(",", header.Select(f => f.Text))}) differs from the columns of {ddlName} ({string.Join(",", columns.Select(c => c.Name))})");
        }

        var buffer = new ArrayBufferWriter<byte>(512);
        while (csv.ReadRecord(out var line) is { } fields)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (fields.Count != columns.Count)
            {
                throw new InvalidDataException($"{file}:{line}: {fields.Count} fields, the header has {columns.Count}");
            }

            buffer.ResetWrittenCount();
            using (var json = new Utf8JsonWriter(buffer, WriterOptions))
            {
                json.WriteStartObject();
                for (var i = 0; i < columns.Count; i++)
                {
                    var column = columns[i];
                    json.WritePropertyName(column.Name);
                    try
                    {
                        WriteField(json, column, fields[i]);
                    }
                    catch (FormatException e)
                    {
                        throw new InvalidDataException($"{file}:{line}: column '{column.Name}' ({column.SqlType}): {e.Message}", e);
                    }
                }

                json.WriteEndObject();
            }

            yield return new PublishedRecord(line, buffer.WrittenSpan.ToArray());
        }
    }

    /// <summary>The columns of the exporter's <c>CREATE TABLE</c>: one <c>"name" type [NOT NULL]</c> per line.</summary>
    internal static List<DdlColumn> ParseDdl(string ddl, string name)
    {
        var columns = new List<DdlColumn>();
        foreach (var raw in ddl.Split('\n'))
        {
            var line = raw.Trim();
            if (!line.StartsWith('"'))
            {
                continue;
            }

            var end = 1;
            var identifier = new StringBuilder();
            while (true)
            {
                if (end >= line.Length)
                {
                    throw new InvalidDataException($"{name}: unterminated column name in '{line}'");
                }

                if (line[end] == '"')
                {
                    if (end + 1 < line.Length && line[end + 1] == '"')
                    {
                        identifier.Append('"');
                        end += 2;
                        continue;
                    }

                    break;
                }

                identifier.Append(line[end++]);
            }

            var type = line[(end + 1)..].Trim().TrimEnd(',').Trim();
            if (type.EndsWith(" NOT NULL", StringComparison.OrdinalIgnoreCase))
            {
                type = type[..^" NOT NULL".Length].Trim();
            }

            var (kind, isArray, srid) = KindOf(type);
            columns.Add(new DdlColumn(identifier.ToString(), type, kind, isArray, srid));
        }

        return columns.Count > 0 ? columns : throw new InvalidDataException($"{name}: no columns");
    }

    /// <summary>
    /// The column kind of a DDL type: the exporter's own names and PostgreSQL's <c>format_type</c> spellings
    /// (modifiers such as <c>numeric(12,2)</c> or <c>geometry(Point,25832)</c> included). Other types are
    /// text, as the PostgreSQL source exports them.
    /// </summary>
    internal static (Kind Kind, bool IsArray, int? Srid) KindOf(string sqlType)
    {
        var type = sqlType.Trim().ToLowerInvariant();
        var isArray = type.EndsWith("[]", StringComparison.Ordinal);
        if (isArray)
        {
            type = type[..^2].TrimEnd();
        }

        int? srid = null;
        var open = type.IndexOf('(', StringComparison.Ordinal);
        if (open >= 0)
        {
            var close = type.IndexOf(')', open);
            var modifiers = close > open ? type[(open + 1)..close] : "";
            var parts = modifiers.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var s))
            {
                srid = s;
            }

            type = (type[..open] + (close > open ? type[(close + 1)..] : "")).Trim();
        }

        type = string.Join(' ', type.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var kind = type switch
        {
            "smallint" or "integer" or "int" or "bigint" or "int2" or "int4" or "int8" or "smallserial" or "serial" or "bigserial" => Kind.Integer,
            "numeric" or "decimal" => Kind.Decimal,
            "real" or "double precision" or "float4" or "float8" or "float" => Kind.Float,
            "boolean" or "bool" => Kind.Boolean,
            "date" => Kind.Date,
            "timestamp" or "timestamp without time zone" => Kind.Timestamp,
            "timestamptz" or "timestamp with time zone" => Kind.TimestampTz,
            "uuid" => Kind.Uuid,
            "json" or "jsonb" => Kind.Json,
            "bytea" => Kind.Bytes,
            "geometry" or "geography" => Kind.Geometry,
            _ => Kind.Text,
        };
        return (kind, isArray, srid);
    }

    private static void WriteField(Utf8JsonWriter json, DdlColumn column, CsvField field)
    {
        if (!field.Quoted && field.Text.Length == 0)
        {
            json.WriteNullValue();
            return;
        }

        if (column.IsArray)
        {
            var parser = new ArrayLiteral(field.Text);
            parser.Write(json, column);
            return;
        }

        WriteScalar(json, column, field.Text);
    }

    internal static void WriteScalar(Utf8JsonWriter json, DdlColumn column, string text)
    {
        switch (column.Kind)
        {
            case Kind.Text:
                json.WriteStringValue(text);
                break;
            case Kind.Integer:
                json.WriteRawValue(IntegerPattern().IsMatch(text) ? text : throw new FormatException($"'{text}' is not an integer"), skipInputValidation: true);
                break;
            case Kind.Decimal:
            case Kind.Float:
                if (text is "NaN" or "Infinity" or "-Infinity")
                {
                    json.WriteStringValue(text);
                }
                else
                {
                    json.WriteRawValue(NumberPattern().IsMatch(text) ? text : throw new FormatException($"'{text}' is not a number"), skipInputValidation: true);
                }

                break;
            case Kind.Boolean:
                json.WriteBooleanValue(text switch
                {
                    "true" => true,
                    "false" => false,
                    _ => throw new FormatException($"'{text}' is not true or false"),
                });
                break;
            case Kind.Date:
            case Kind.Timestamp:
            case Kind.TimestampTz:
            case Kind.Uuid:
                json.WriteStringValue(text);
                break;
            case Kind.Json:
                try
                {
                    json.WriteRawValue(text, skipInputValidation: false);
                }
                catch (Exception e) when (e is JsonException or ArgumentException)
                {
                    throw new FormatException($"not JSON: {e.Message}", e);
                }

                break;
            case Kind.Bytes:
                json.WriteStringValue(Convert.TryFromBase64String(text, new byte[text.Length], out _) ? text : throw new FormatException("not base64"));
                break;
            case Kind.Geometry:
                WktToGeoJson.Write(text, column.Srid, json);
                break;
        }
    }

    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")]
    private static partial Regex NumberPattern();

    internal readonly record struct CsvField(string Text, bool Quoted);

    /// <summary>RFC 4180 records, with the line each starts on; a quoted field may span lines.</summary>
    private sealed class CsvTokenizer(TextReader reader, string file)
    {
        private long _line = 1;
        private int _peeked = -2;

        public List<CsvField>? ReadRecord(out long startLine)
        {
            startLine = _line;
            if (Peek() < 0)
            {
                return null;
            }

            var fields = new List<CsvField>();
            var text = new StringBuilder();
            while (true)
            {
                text.Clear();
                var quoted = false;
                if (Peek() == '"')
                {
                    quoted = true;
                    Next();
                    while (true)
                    {
                        var c = Next();
                        if (c < 0)
                        {
                            throw new InvalidDataException($"{file}:{startLine}: a quoted field is not closed");
                        }

                        if (c == '"')
                        {
                            if (Peek() == '"')
                            {
                                Next();
                                text.Append('"');
                                continue;
                            }

                            break;
                        }

                        text.Append((char)c);
                    }
                }
                else
                {
                    while (Peek() is >= 0 and not ',' and not '\r' and not '\n')
                    {
                        var c = Next();
                        if (c == '"')
                        {
                            throw new InvalidDataException($"{file}:{_line}: a quote inside an unquoted field");
                        }

                        text.Append((char)c);
                    }
                }

                fields.Add(new CsvField(text.ToString(), quoted));
                var next = Next();
                if (next == ',')
                {
                    continue;
                }

                if (next == '\r' && Peek() == '\n')
                {
                    Next();
                }

                if (next is '\r' or '\n' or -1)
                {
                    return fields;
                }

                throw new InvalidDataException($"{file}:{_line}: text after a quoted field");
            }
        }

        private int Peek()
        {
            if (_peeked == -2)
            {
                _peeked = reader.Read();
            }

            return _peeked;
        }

        private int Next()
        {
            var c = Peek();
            _peeked = -2;
            if (c == '\n')
            {
                _line++;
            }

            return c;
        }
    }

    /// <summary>A PostgreSQL array literal (<c>{1,NULL,"a b",{2,3}}</c>) as a JSON array of the column's element kind.</summary>
    private ref struct ArrayLiteral(string text)
    {
        private readonly string _text = text;
        private int _at;

        public void Write(Utf8JsonWriter json, DdlColumn column)
        {
            WriteArray(json, column);
            if (_at != _text.Length)
            {
                throw new FormatException($"text after the array literal at {_at}");
            }
        }

        private void WriteArray(Utf8JsonWriter json, DdlColumn column)
        {
            Expect('{');
            json.WriteStartArray();
            if (Peek() == '}')
            {
                _at++;
                json.WriteEndArray();
                return;
            }

            while (true)
            {
                if (Peek() == '{' && column.Kind != Kind.Json)
                {
                    WriteArray(json, column);
                }
                else if (Peek() == '"')
                {
                    WriteScalar(json, column, ReadQuoted());
                }
                else
                {
                    var start = _at;
                    while (_at < _text.Length && _text[_at] is not ',' and not '}')
                    {
                        _at++;
                    }

                    var element = _text[start.._at];
                    if (element.Length == 0)
                    {
                        throw new FormatException($"an empty array element at {start}");
                    }

                    if (element.Equals("NULL", StringComparison.OrdinalIgnoreCase))
                    {
                        json.WriteNullValue();
                    }
                    else
                    {
                        WriteScalar(json, column, element);
                    }
                }

                var c = Next();
                if (c == '}')
                {
                    json.WriteEndArray();
                    return;
                }

                if (c != ',')
                {
                    throw new FormatException($"expected ',' or '}}' at {_at - 1} of the array literal");
                }
            }
        }

        private string ReadQuoted()
        {
            Expect('"');
            var value = new StringBuilder();
            while (true)
            {
                var c = Next();
                switch (c)
                {
                    case -1:
                        throw new FormatException("an array element's quote is not closed");
                    case '"':
                        return value.ToString();
                    case '\\':
                        var escaped = Next();
                        value.Append(escaped >= 0 ? (char)escaped : throw new FormatException("a backslash at the end of the array literal"));
                        break;
                    default:
                        value.Append((char)c);
                        break;
                }
            }
        }

        private readonly int Peek() => _at < _text.Length ? _text[_at] : -1;

        private int Next() => _at < _text.Length ? _text[_at++] : -1;

        private void Expect(char c)
        {
            if (Next() != c)
            {
                throw new FormatException($"expected '{c}' at {_at - 1} of the array literal");
            }
        }
    }
}
