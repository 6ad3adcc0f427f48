using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Unicode;
using BulkExport.Api;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources.Files;

/// <summary>
/// Rows of an RFC 4180 CSV file with a header row. Every column is Text except the entity's temporal
/// columns (TimestampTz), its geometry and the columns the entity declares a type for (<see cref="EntitySpec.Columns"/>). An empty unquoted field is null and <c>""</c> the empty string, the same
/// convention our CSV output and PostgreSQL's COPY use.
/// </summary>
internal sealed class CsvRowReader : IRowReader, IRowBatchReader, IRowReaderOrdering
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
    private readonly FieldSplitter _split = new();
    // The key columns in key order when a scan found the records in key order; null otherwise.
    private readonly int[]? _sortedKeys;
    private readonly KeyOrder? _order;

    private CsvRowReader(EntityFile file, EntitySpec entity, EntityLayout layout, Column[] columns, bool[] isKey, FileChunkReader reader, long nextLine, int[]? sortedKeys)
    {
        _sortedKeys = sortedKeys;
        _order = sortedKeys is null ? null : new KeyOrder(sortedKeys.Length);
        _file = file;
        _entity = entity;
        _columns = columns;
        _isKey = isKey;
        _reader = reader;
        _nextLine = nextLine;
        _precision = [.. columns.Select(c => layout.Declared.TryGetValue(c.Name, out var d) ? d.Precision : null)];
        _scale = [.. columns.Select(c => layout.Declared.TryGetValue(c.Name, out var d) ? d.Scale : 0)];
    }

    // Per column: a declared numeric(p,s)'s precision and scale, as the layout parsed them at load.
    private readonly int?[] _precision;
    private readonly int[] _scale;

    public IReadOnlyList<Column> Columns => _columns;

    public object?[] Current => _current;

    /// <summary>
    /// True when a scan of the key fields found every record in key order (a plain entity; CSV keys are
    /// text): the delta then merges rows as they come instead of sorting them externally. The scan
    /// stops at the first record out of order, so an unsorted file costs it a few records; the row
    /// pass checks the order again and fails the run naming the line if the file no longer has it.
    /// </summary>
    public bool IsSortedByKey => _sortedKeys is not null;

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

            columns[i] = layout.ForcedKind(name) is { } forced
                ? new Column(name, forced, Nullable: !layout.Keys.Contains(name))
                : layout.Declared.TryGetValue(name, out var declared) ? declared.Column : new Column(name, ColumnKind.Text, Nullable: !layout.Keys.Contains(name));
        }

        layout.Validate(entity, file.Path, columns);
        var isKey = columns.Select(c => layout.Keys.Contains(c.Name)).ToArray();
        var keyIndexes = entity.Key.Select(k => Array.FindIndex(columns, c => c.Name == k)).ToArray();
        var sorted = entity.Temporal is null && keyIndexes.Length > 0 && keyIndexes.All(k => columns[k].Kind is ColumnKind.Text or ColumnKind.Integer)
            && await InKeyOrderAsync(file, columns, keyIndexes, cancellationToken).ConfigureAwait(false);
        return new CsvRowReader(file, entity, layout, columns, isKey, reader, 1 + newlines, sorted ? keyIndexes : null);
    }

    /// <summary>Whether the records after the header come in key order; false at the first that does not, or at a key the row pass would refuse.</summary>
    private static async ValueTask<bool> InKeyOrderAsync(EntityFile file, Column[] columns, int[] keyIndexes, CancellationToken cancellationToken)
    {
        var columnCount = columns.Length;
        var reader = new FileChunkReader(file.Handle);
        var split = new FieldSplitter();
        var order = new KeyOrder(keyIndexes.Length);
        var lastKey = keyIndexes.Max();
        var skipped = false;
        while (true)
        {
            // Whole records in the buffer are found without an async call each, as in ReadBatchAsync:
            // this pass reads every record before any row flows, so its cost is all wall time.
            if (!TryFindRecordEnd(reader.Available, out var length, out var consumed, out _))
            {
                bool found;
                (found, length, consumed, _) = await NextRecordAsync(reader, cancellationToken).ConfigureAwait(false);
                if (!found)
                {
                    return true;
                }
            }

            var record = reader.Buffer.AsSpan(reader.Start, length);
            if (!skipped)
            {
                // The header (the BOM before it is already skipped by the chunk reader).
                skipped = true;
                reader.Consume(consumed);
                continue;
            }

            if (!record.IsEmpty || columnCount == 1)
            {
                // Only as far as the last key field, and only the keys' UTF-8 checked: the scan reads
                // every record before any row flows, and a full split of each was most of its time (a
                // record the row pass refuses fails the run there, so the scan need not look).
                if (!split.Split(record, lastField: lastKey) || split.Count <= lastKey)
                {
                    return false;
                }

                order.BeginRow();
                for (var slot = 0; slot < keyIndexes.Length; slot++)
                {
                    if (split.IsNull(keyIndexes[slot]))
                    {
                        return false;
                    }

                    var field = split.Field(keyIndexes[slot], record);
                    if (columns[keyIndexes[slot]].Kind != ColumnKind.Integer)
                    {
                        if (!Utf8.IsValid(field))
                        {
                            return false;
                        }

                        order.SetText(slot, field);
                    }
                    else if (Utf8Parser.TryParse(field, out long key, out var used) && used == field.Length)
                    {
                        order.SetInteger(slot, key);
                    }
                    else
                    {
                        return false;
                    }
                }

                if (!order.EndRow())
                {
                    return false;
                }
            }

            reader.Consume(consumed);
            reader.Trim();
        }
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
            var record = _reader.Buffer.AsSpan(_reader.Start, length);
            var row = ParseRow(record);
            if (row is not null && _order is not null)
            {
                // The record parsed, so it splits.
                _split.Split(record);
                CheckOrder(record);
            }

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
            // Most records are whole in the buffer already: found without an async call per record
            // (its state machine and awaits were about 2% of a typed CSV total's CPU).
            if (!TryFindRecordEnd(_reader.Available, out var length, out var consumed, out var newlines))
            {
                bool found;
                (found, length, consumed, newlines) = await NextRecordAsync(_reader, cancellationToken).ConfigureAwait(false);
                if (!found)
                {
                    break;
                }
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

        if (!_split.Split(record))
        {
            // Invalid UTF-8 or a malformed quote: the string parser says where, in its words.
            ParseRow(record);
            throw new InvalidOperationException("unreachable: the record parsed on the second attempt");
        }

        if (_split.Count != _columns.Length)
        {
            throw Error($"{_split.Count} fields where the header has {_columns.Length}");
        }

        var row = batch.AddRow();
        try
        {
            for (var i = 0; i < _columns.Length; i++)
            {
                var column = _columns[i];
                var bytes = _split.Field(i, record);
                var length = _split.IsNull(i) ? -1 : bytes.Length;
                if (column.Kind == ColumnKind.TimestampTz)
                {
                    if (length > 0)
                    {
                        batch.SetTimestampTz(row, i, FileValues.TryParseTimestamp(bytes, out var timestamp)
                            ? timestamp
                            : throw Error($"column '{column.Name}': '{Encoding.UTF8.GetString(bytes)}' is not an ISO 8601 timestamp"));
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
                else if (column.Kind == ColumnKind.Text)
                {
                    if (length >= 0)
                    {
                        batch.SetUtf8(row, i, bytes);
                    }
                }
                else if (length > 0)
                {
                    SetTyped(batch, row, i, column, bytes);
                }

                if (_isKey[i] && batch.IsNull(row, i))
                {
                    throw Error($"key column '{column.Name}' is empty");
                }
            }

            if (_order is not null)
            {
                CheckOrder(record, batch, row);
            }
        }
        catch
        {
            batch.RemoveLastRow();
            throw;
        }

        return true;
    }

    /// <summary>A field of a declared type (<see cref="EntitySpec.Columns"/>) parsed into the batch; a field that is not one fails the run naming line and column.</summary>
    private void SetTyped(RowBatch batch, int row, int i, Column column, ReadOnlySpan<byte> bytes)
    {
        switch (column.Kind)
        {
            case ColumnKind.Integer when Utf8Parser.TryParse(bytes, out long l, out var used) && used == bytes.Length:
                batch.SetInt64(row, i, l);
                break;
            case ColumnKind.Float when FileValues.TryParseCanonicalDouble(bytes, out var d):
                // Spelled as the digest and the formats would spell the double: they copy it instead.
                batch.SetDouble(row, i, d);
                batch.KeepSpelling(row, i, bytes);
                break;
            case ColumnKind.Float when FileValues.TryParseLongDecimalDouble(bytes, out var exact):
                batch.SetDouble(row, i, exact);
                break;
            case ColumnKind.Float when double.TryParse(bytes, NumberStyles.Float & ~NumberStyles.AllowLeadingWhite & ~NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var parsed):
                batch.SetDouble(row, i, parsed);
                break;
            case ColumnKind.Boolean when FileValues.TryParseBoolean(bytes, out var b):
                batch.SetBoolean(row, i, b);
                break;
            case ColumnKind.Date when FileValues.TryParseDate(bytes, out var date):
                batch.SetDate(row, i, date);
                break;
            case ColumnKind.Uuid when Utf8Parser.TryParse(bytes, out Guid g, out var used) && used == bytes.Length:
                batch.SetGuid(row, i, g);
                break;
            case ColumnKind.Decimal when FileValues.TryCanonicalDecimal(bytes, _precision[i], _scale[i], out var canonical):
                if (canonical is null)
                {
                    batch.SetUtf8(row, i, bytes);
                }
                else
                {
                    batch.SetString(row, i, canonical);
                }

                break;
            default:
                throw Error($"column '{column.Name}': '{Encoding.UTF8.GetString(bytes)}' is not {Describe(column)}");
        }
    }

    /// <summary>The boxed form of a declared-type field (<see cref="ReadAsync"/>'s rows), through the batch's parsing so both accept the same.</summary>
    private object Box(Column column, int index, string text)
    {
        _box ??= new RowBatch(_columns, 1);
        _box.Clear();
        var row = _box.AddRow();
        SetTyped(_box, row, index, column, Encoding.UTF8.GetBytes(text));
        return _box.View(row).GetValue(index)!;
    }

    private RowBatch? _box;

    private static string Describe(Column column) => column.Kind switch
    {
        ColumnKind.Integer => "an integer (64-bit)",
        ColumnKind.Float => "a floating-point number",
        ColumnKind.Boolean => "a boolean (true/false or t/f)",
        ColumnKind.Date => "a date (yyyy-MM-dd)",
        ColumnKind.Uuid => "a UUID",
        ColumnKind.Decimal when column.SqlType is { } t => $"a decimal number that fits {t}",
        _ => "a decimal number",
    };

    /// <summary>
    /// The scan promised key order (so the delta does not sort): a record that breaks it fails the run here, by line.
    /// With <paramref name="batch"/>, an integer key is read from the row just parsed into it rather than parsed again.
    /// </summary>
    private void CheckOrder(ReadOnlySpan<byte> record, RowBatch? batch = null, int row = 0)
    {
        _order!.BeginRow();
        var keys = _sortedKeys!;
        for (var slot = 0; slot < keys.Length; slot++)
        {
            var c = keys[slot];
            if (_split.IsNull(c))
            {
                throw Error($"key column '{_columns[c].Name}' is empty");
            }

            if (_columns[c].Kind != ColumnKind.Integer)
            {
                _order.SetText(slot, _split.Field(c, record));
            }
            else if (batch is not null)
            {
                _order.SetInteger(slot, batch.WordAt(row, c));
            }
            else
            {
                // The field parsed as a declared integer already.
                Utf8Parser.TryParse(_split.Field(c, record), out long key, out _);
                _order.SetInteger(slot, key);
            }
        }

        if (!_order.EndRow())
        {
            throw Error("the row's key comes before the previous row's, though the scan found the records in key order (did the file change during the run?)");
        }
    }

    /// <summary>
    /// Splits a record into its fields without decoding them: a field is a slice of the record, or, for
    /// a quoted field with doubled quotes, its unquoted copy. The record's UTF-8 is checked once as a whole
    /// (quotes and commas are ASCII, so no character straddles a field boundary in valid UTF-8).
    /// </summary>
    private sealed class FieldSplitter
    {
        // Fields that needed unquoting, back to back.
        private readonly ArrayBufferWriter<byte> _copied = new(1024);
        // Per field: start and length in the record, or in _copied when Copied; length -1 for null.
        private (int Start, int Length, bool Copied)[] _fields = new (int, int, bool)[16];
        private int _count;

        public int Count => _count;

        public bool IsNull(int field) => _fields[field].Length < 0;

        private void Add((int Start, int Length, bool Copied) field)
        {
            if (_count == _fields.Length)
            {
                Array.Resize(ref _fields, _count * 2);
            }

            _fields[_count++] = field;
        }

        public ReadOnlySpan<byte> Field(int field, ReadOnlySpan<byte> record)
        {
            var (start, length, copied) = _fields[field];
            return length < 0 ? default : copied ? _copied.WrittenSpan.Slice(start, length) : record.Slice(start, length);
        }

        /// <summary>
        /// False when the record is not valid UTF-8 or a quote is malformed. With <paramref name="lastField"/>,
        /// stops after that field and leaves the UTF-8 unchecked (the caller checks the fields it reads).
        /// </summary>
        public bool Split(ReadOnlySpan<byte> record, int lastField = -1)
        {
            _copied.ResetWrittenCount();
            _count = 0;
            if (lastField < 0 && !Utf8.IsValid(record))
            {
                return false;
            }

            var at = 0;
            while (true)
            {
                if (at < record.Length && record[at] == '"')
                {
                    at++;
                    var quote = record[at..].IndexOf((byte)'"');
                    if (quote < 0)
                    {
                        return false;
                    }

                    if (at + quote + 1 >= record.Length || record[at + quote + 1] != '"')
                    {
                        // No doubled quote: the field is the slice between the quotes.
                        Add((at, quote, false));
                        at += quote + 1;
                    }
                    else
                    {
                        var start = _copied.WrittenCount;
                        while (true)
                        {
                            _copied.Write(record.Slice(at, quote));
                            at += quote + 1;
                            if (at < record.Length && record[at] == '"')
                            {
                                _copied.Write("\""u8);
                                at++;
                                quote = record[at..].IndexOf((byte)'"');
                                if (quote < 0)
                                {
                                    return false;
                                }

                                continue;
                            }

                            break;
                        }

                        Add((start, _copied.WrittenCount - start, true));
                    }

                    if (at < record.Length && record[at] != ',')
                    {
                        return false;
                    }
                }
                else
                {
                    var comma = record[at..].IndexOf((byte)',');
                    var end = comma < 0 ? record.Length : at + comma;
                    Add(end == at ? (0, -1, false) : (at, end - at, false));
                    at = end;
                }

                if (at >= record.Length || _count == lastField + 1)
                {
                    return true;
                }

                at++; // the comma; a trailing one starts a final empty (null) field
            }
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
            else if (column.Kind is ColumnKind.Text or ColumnKind.Geometry || string.IsNullOrEmpty(text))
            {
                row[i] = column.Kind == ColumnKind.Text ? text : null;
            }
            else
            {
                row[i] = Box(column, i, text);
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
