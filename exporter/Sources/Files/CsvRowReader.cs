using System.Buffers;
using System.Text;
using System.Text.Unicode;
using BulkExport.Api;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources.Files;

/// <summary>
/// Rows of an RFC 4180 CSV file with a header row. Every column is Text except the entity's temporal
/// columns (TimestampTz). An empty unquoted field is null and <c>""</c> the empty string, the same
/// convention our CSV output and PostgreSQL's COPY use.
/// </summary>
internal sealed class CsvRowReader : IRowReader, IRowBatchReader
{
    private readonly EntityFile _file;
    private readonly EntitySpec _entity;
    private readonly Column[] _columns;
    private readonly bool[] _isKey;
    private readonly FileChunkReader _reader;
    private readonly List<string?> _fields = [];
    // Physical line where the current record starts; records may span lines inside quotes.
    private long _lineNumber;
    private long _nextLine;
    private object?[] _current = [];
    // The current record's fields, unquoted, back to back; (start, length) each, length -1 for null.
    private readonly ArrayBufferWriter<byte> _fieldBytes = new(1024);
    private readonly List<(int Start, int Length)> _spans = [];

    private CsvRowReader(EntityFile file, EntitySpec entity, Column[] columns, bool[] isKey, FileChunkReader reader, long nextLine)
    {
        _file = file;
        _entity = entity;
        _columns = columns;
        _isKey = isKey;
        _reader = reader;
        _nextLine = nextLine;
    }

    public IReadOnlyList<Column> Columns => _columns;

    public object?[] Current => _current;

    public static async ValueTask<CsvRowReader> OpenAsync(EntityFile file, EntitySpec entity, EntityLayout layout, CancellationToken cancellationToken)
    {
        // The header alone decides the columns, so this "first pass" stops after one record.
        var reader = new FileChunkReader(file.Handle);
        var (found, length, consumed, newlines) = await NextRecordAsync(reader, cancellationToken).ConfigureAwait(false);
        if (!found)
        {
            throw new SourceException($"Entity '{entity.Name}': {file.Path} is empty; a CSV file needs a header row.", transient: false);
        }

        var names = new List<string?>();
        ParseFields(reader.Buffer.AsSpan(reader.Start, length), names, new Where(entity.Name, file.Path, 1, null));
        reader.Consume(consumed);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var columns = new Column[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i];
            if (string.IsNullOrEmpty(name) || !seen.Add(name))
            {
                throw new SourceException($"Entity '{entity.Name}': {file.Path}:1: header column {i + 1} is empty or repeated ('{name}').", transient: false);
            }

            columns[i] = new Column(
                name,
                layout.ForcedKind(name) ?? ColumnKind.Text,
                Nullable: !layout.Keys.Contains(name));
        }

        layout.Validate(entity, file.Path, columns);
        var isKey = columns.Select(c => layout.Keys.Contains(c.Name)).ToArray();
        return new CsvRowReader(file, entity, columns, isKey, reader, 1 + newlines);
    }

    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var (found, length, consumed, newlines) = await NextRecordAsync(_reader, cancellationToken).ConfigureAwait(false);
            if (!found)
            {
                return false;
            }

            _lineNumber = _nextLine;
            _nextLine += newlines;
            var row = ParseRow(_reader.Buffer.AsSpan(_reader.Start, length));
            _reader.Consume(consumed);
            _reader.Trim();
            if (row is not null)
            {
                _current = row;
                return true;
            }
        }
    }

    /// <summary>Parses records straight into <paramref name="batch"/>: a text field's UTF-8 is copied, not decoded to a string.</summary>
    public async ValueTask<bool> ReadBatchAsync(RowBatch batch, CancellationToken cancellationToken)
    {
        var added = false;
        while (!batch.IsFull)
        {
            var (found, length, consumed, newlines) = await NextRecordAsync(_reader, cancellationToken).ConfigureAwait(false);
            if (!found)
            {
                break;
            }

            _lineNumber = _nextLine;
            _nextLine += newlines;
            added |= ParseRow(_reader.Buffer.AsSpan(_reader.Start, length), batch);
            _reader.Consume(consumed);
            _reader.Trim();
        }

        return added;
    }

    private bool ParseRow(ReadOnlySpan<byte> record, RowBatch batch)
    {
        if (record.IsEmpty && _columns.Length != 1)
        {
            return false;
        }

        if (!SplitFields(record))
        {
            // Invalid UTF-8 or a malformed quote: the string parser says where, in its words.
            ParseRow(record);
            throw new InvalidOperationException("unreachable: the record parsed on the second attempt");
        }

        if (_spans.Count != _columns.Length)
        {
            throw Error($"{_spans.Count} fields where the header has {_columns.Length}");
        }

        var row = batch.AddRow();
        try
        {
            for (var i = 0; i < _columns.Length; i++)
            {
                var (start, length) = _spans[i];
                var column = _columns[i];
                var bytes = length < 0 ? default : _fieldBytes.WrittenSpan.Slice(start, length);
                if (column.Kind == ColumnKind.TimestampTz)
                {
                    if (length > 0)
                    {
                        var text = Encoding.UTF8.GetString(bytes);
                        batch.SetTimestampTz(row, i, FileValues.TryParseTimestamp(text, out var timestamp)
                            ? timestamp
                            : throw Error($"column '{column.Name}': '{text}' is not an ISO 8601 timestamp"));
                    }
                }
                else if (column.Kind == ColumnKind.Geometry)
                {
                    if (length > 0)
                    {
                        var text = Encoding.UTF8.GetString(bytes);
                        try
                        {
                            batch.SetObject(row, i, GeometryText.FromText(text));
                        }
                        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
                        {
                            throw Error($"column '{column.Name}': not a WKT or GeoJSON geometry: {e.Message}");
                        }
                    }
                }
                else if (length >= 0)
                {
                    batch.SetUtf8(row, i, bytes);
                }

                if (_isKey[i] && batch.IsNull(row, i))
                {
                    throw Error($"key column '{column.Name}' is empty");
                }
            }
        }
        catch
        {
            batch.RemoveLastRow();
            throw;
        }

        return true;
    }

    /// <summary>The record's fields into <c>_fieldBytes</c>/<c>_spans</c>; false when a field is not valid UTF-8 or a quote is malformed.</summary>
    private bool SplitFields(ReadOnlySpan<byte> record)
    {
        _fieldBytes.ResetWrittenCount();
        _spans.Clear();
        var at = 0;
        while (true)
        {
            if (at < record.Length && record[at] == '"')
            {
                var start = _fieldBytes.WrittenCount;
                at++;
                while (true)
                {
                    var quote = record[at..].IndexOf((byte)'"');
                    if (quote < 0)
                    {
                        return false;
                    }

                    // Each piece is checked on its own, as the string parser decodes it: halves of a
                    // character on either side of a quote are invalid, though they would join.
                    if (!Utf8.IsValid(record.Slice(at, quote)))
                    {
                        return false;
                    }

                    _fieldBytes.Write(record.Slice(at, quote));
                    at += quote + 1;
                    if (at < record.Length && record[at] == '"')
                    {
                        _fieldBytes.Write("\""u8);
                        at++;
                        continue;
                    }

                    break;
                }

                _spans.Add((start, _fieldBytes.WrittenCount - start));
                if (at < record.Length && record[at] != ',')
                {
                    return false;
                }
            }
            else
            {
                var comma = record[at..].IndexOf((byte)',');
                var end = comma < 0 ? record.Length : at + comma;
                if (end == at)
                {
                    _spans.Add((0, -1));
                }
                else
                {
                    if (!Utf8.IsValid(record[at..end]))
                    {
                        return false;
                    }

                    _spans.Add((_fieldBytes.WrittenCount, end - at));
                    _fieldBytes.Write(record[at..end]);
                }

                at = end;
            }

            if (at >= record.Length)
            {
                return true;
            }

            at++; // the comma; a trailing one starts a final empty (null) field
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private object?[]? ParseRow(ReadOnlySpan<byte> record)
    {
        // A blank line is a record only when a single null field is what it would mean.
        if (record.IsEmpty && _columns.Length != 1)
        {
            return null;
        }

        ParseFields(record, _fields, new Where(_entity.Name, _file.Path, _lineNumber, _columns));
        if (_fields.Count != _columns.Length)
        {
            throw Error($"{_fields.Count} fields where the header has {_columns.Length}");
        }

        var row = new object?[_columns.Length];
        for (var i = 0; i < row.Length; i++)
        {
            var text = _fields[i];
            var column = _columns[i];
            if (column.Kind == ColumnKind.TimestampTz)
            {
                if (string.IsNullOrEmpty(text))
                {
                    row[i] = null;
                }
                else if (FileValues.TryParseTimestamp(text, out var timestamp))
                {
                    row[i] = timestamp;
                }
                else
                {
                    throw Error($"column '{column.Name}': '{text}' is not an ISO 8601 timestamp");
                }
            }
            else if (column.Kind == ColumnKind.Geometry && !string.IsNullOrEmpty(text))
            {
                try
                {
                    row[i] = GeometryText.FromText(text);
                }
                catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    throw Error($"column '{column.Name}': not a WKT or GeoJSON geometry: {e.Message}");
                }
            }
            else
            {
                row[i] = column.Kind == ColumnKind.Geometry ? null : text;
            }

            if (_isKey[i] && row[i] is null)
            {
                throw Error($"key column '{column.Name}' is empty");
            }
        }

        return row;
    }

    private SourceException Error(string message) =>
        new($"Entity '{_entity.Name}': {_file.Path}:{_lineNumber}: {message}.", transient: false);

    /// <summary>
    /// The next record at the reader's start: its length without the line end, the bytes to consume
    /// and the line ends it contains (for line numbers).
    /// </summary>
    private static async ValueTask<(bool Found, int Length, int Consumed, int Newlines)> NextRecordAsync(FileChunkReader reader, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryFindRecordEnd(reader.Available, out var length, out var consumed, out var newlines))
            {
                return (true, length, consumed, newlines);
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (!await reader.ReadMoreAsync(cancellationToken).ConfigureAwait(false))
            {
                if (reader.Length == 0)
                {
                    return (false, 0, 0, 0);
                }

                // The last record has no line end.
                var rest = reader.Available;
                var restLength = rest[^1] == '\r' ? rest.Length - 1 : rest.Length;
                return (true, restLength, rest.Length, rest.Count((byte)'\n'));
            }
        }
    }

    private static bool TryFindRecordEnd(ReadOnlySpan<byte> data, out int length, out int consumed, out int newlines)
    {
        var inQuotes = false;
        newlines = 0;
        var at = 0;
        while (true)
        {
            var next = data[at..].IndexOfAny((byte)'"', (byte)'\n');
            if (next < 0)
            {
                length = consumed = 0;
                return false;
            }

            at += next;
            if (data[at] == '"')
            {
                inQuotes = !inQuotes;
            }
            else
            {
                newlines++;
                if (!inQuotes)
                {
                    length = at > 0 && data[at - 1] == '\r' ? at - 1 : at;
                    consumed = at + 1;
                    return true;
                }
            }

            at++;
        }
    }

    /// <summary>Where a field is, for messages: entity, file, physical line and, past the header, the column names.</summary>
    private readonly record struct Where(string Entity, string Path, long Line, Column[]? Columns)
    {
        public SourceException Error(string message, Exception? inner = null) =>
            new($"Entity '{Entity}': {Path}:{Line}: {message}.", transient: false, inner);

        public string Field(int index) => Columns is not null && index < Columns.Length ? $"column '{Columns[index].Name}'" : $"field {index + 1}";
    }

    private static void ParseFields(ReadOnlySpan<byte> record, List<string?> fields, Where where)
    {
        fields.Clear();
        var at = 0;
        while (true)
        {
            if (at < record.Length && record[at] == '"')
            {
                var sb = new StringBuilder();
                at++;
                while (true)
                {
                    var quote = record[at..].IndexOf((byte)'"');
                    if (quote < 0)
                    {
                        throw where.Error($"{where.Field(fields.Count)}: unterminated quoted field");
                    }

                    sb.Append(Decode(record, at, quote, where, fields.Count));
                    at += quote + 1;
                    if (at < record.Length && record[at] == '"')
                    {
                        sb.Append('"');
                        at++;
                        continue;
                    }

                    break;
                }

                fields.Add(sb.ToString());
                if (at < record.Length && record[at] != ',')
                {
                    throw where.Error($"{where.Field(fields.Count - 1)}: unexpected character after a closing quote");
                }
            }
            else
            {
                var comma = record[at..].IndexOf((byte)',');
                var end = comma < 0 ? record.Length : at + comma;
                fields.Add(end == at ? null : Decode(record, at, end - at, where, fields.Count));
                at = end;
            }

            if (at >= record.Length)
            {
                return;
            }

            at++; // the comma; a trailing one starts a final empty (null) field
        }
    }

    private static string Decode(ReadOnlySpan<byte> record, int start, int length, Where where, int field)
    {
        try
        {
            return FileValues.StrictUtf8.GetString(record.Slice(start, length));
        }
        catch (DecoderFallbackException e)
        {
            throw where.Error($"{where.Field(field)}: invalid UTF-8 at byte {start + Math.Max(e.Index, 0) + 1} of the record", e);
        }
    }
}
