using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using BulkExport.Api;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources.Files;

/// <summary>
/// Rows of a JSON Lines file. A first pass over the file finds the columns (the union of keys, in
/// first-seen order) and their kinds, and whether the rows are in key order; the second pass yields
/// the rows. Only one line is in memory.
/// </summary>
internal sealed class JsonLinesRowReader : IRowReader, IRowBatchReader, IRowReaderOrdering
{
    private readonly EntityFile _file;
    private readonly EntitySpec _entity;
    private readonly Column[] _columns;
    private readonly byte[][] _utf8Names;
    private readonly Dictionary<string, int> _index;
    private readonly bool[] _isKey;
    private readonly FileChunkReader _reader;
    // The key columns in key order when the first pass found the rows in key order; null otherwise.
    private readonly int[]? _sortedKeys;
    private readonly KeyOrder? _order;
    private RowBatch.BatchRowView? _orderView;
    private long _lineNumber;
    private object?[] _current = [];
    private RowBatch? _single;

    private JsonLinesRowReader(EntityFile file, EntitySpec entity, Column[] columns, bool[] isKey, int[]? sortedKeys)
    {
        _sortedKeys = sortedKeys;
        _order = sortedKeys is null ? null : new KeyOrder(sortedKeys.Length);
        _file = file;
        _entity = entity;
        _columns = columns;
        _isKey = isKey;
        _utf8Names = columns.Select(c => Encoding.UTF8.GetBytes(c.Name)).ToArray();
        _index = new Dictionary<string, int>(columns.Length, StringComparer.Ordinal);
        for (var i = 0; i < columns.Length; i++)
        {
            _index[columns[i].Name] = i;
        }

        _reader = new FileChunkReader(file.Handle);
    }

    public IReadOnlyList<Column> Columns => _columns;

    public object?[] Current => _current;

    /// <summary>
    /// True when the first pass found every row in key order (a plain entity whose keys are integers or
    /// text): the delta then merges rows as they come instead of sorting them externally. The second
    /// pass checks the order again and fails the run naming the line if the file no longer has it.
    /// </summary>
    public bool IsSortedByKey => _sortedKeys is not null;

    /// <param name="parallelFrom">The file size from which the first pass runs in two halves (tests lower it).</param>
    public static async ValueTask<JsonLinesRowReader> OpenAsync(EntityFile file, EntitySpec entity, EntityLayout layout, CancellationToken cancellationToken, long parallelFrom = ParallelInferenceBytes)
    {
        var inference = await InferInHalvesAsync(file, entity, layout, parallelFrom, cancellationToken).ConfigureAwait(false)
            ?? await InferAsync(file, entity, layout, 0, long.MaxValue, cancellationToken).ConfigureAwait(false);
        var order = inference.Order;
        var columns = inference.Columns(layout);
        layout.Validate(entity, file.Path, columns);
        var isKey = columns.Select(c => layout.Keys.Contains(c.Name)).ToArray();
        var keyIndexes = entity.Key.Select(k => Array.FindIndex(columns, c => c.Name == k)).ToArray();
        var sorted = order is { InOrder: true } && order.Matches(columns, keyIndexes);
        return new JsonLinesRowReader(file, entity, columns, isKey, sorted ? keyIndexes : null);
    }

    // Below this the first pass is short enough to run on one thread.
    internal const long ParallelInferenceBytes = 32L << 20;

    /// <summary>The first pass over <c>[start, end)</c> of the file, numbering lines from 1 (exact only from the file's start).</summary>
    private static async Task<Inference> InferAsync(EntityFile file, EntitySpec entity, EntityLayout layout, long start, long end, CancellationToken cancellationToken)
    {
        // A temporal entity's identity adds its period starts to the key (timestamps); not followed here.
        var order = entity.Temporal is null && entity.Key.Count > 0 ? new KeyOrder(entity.Key.Count) : null;
        var inference = new Inference(entity.Name, layout.Keys, entity.Key, order);
        var reader = new FileChunkReader(file.Handle, start, end);
        long lineNumber = 0;
        while (true)
        {
            var (found, length, consumed) = await NextLine(reader, cancellationToken).ConfigureAwait(false);
            if (!found)
            {
                break;
            }

            lineNumber++;
            inference.Observe(reader.Buffer.AsSpan(reader.Start, length), file.Path, lineNumber);
            reader.Consume(consumed);
            reader.Trim();
        }

        return inference;
    }

    /// <summary>
    /// The first pass of a large file on two threads, one per half (split at a line end), merged; it
    /// reads the whole file before any row can flow, so on two cores halving it shortens the run. Null
    /// when the file is small, or when a half found anything wrong: then the one-thread pass runs and
    /// names the fault with its true line number, in the words it always used.
    /// </summary>
    private static async Task<Inference?> InferInHalvesAsync(EntityFile file, EntitySpec entity, EntityLayout layout, long parallelFrom, CancellationToken cancellationToken)
    {
        var size = RandomAccess.GetLength(file.Handle);
        if (size < parallelFrom || size < 2 || Environment.ProcessorCount < 2)
        {
            return null;
        }

        var middle = await LineStartAfterAsync(file, size / 2, size, cancellationToken).ConfigureAwait(false);
        if (middle is not { } split)
        {
            return null;
        }

        var first = Task.Run(() => InferAsync(file, entity, layout, 0, split, cancellationToken), cancellationToken);
        var second = Task.Run(() => InferAsync(file, entity, layout, split, size, cancellationToken), cancellationToken);
        try
        {
            await Task.WhenAll(first, second).ConfigureAwait(false);
        }
        catch (SourceException)
        {
            return null;
        }

        return first.Result.Append(second.Result) ? first.Result : null;
    }

    /// <summary>The offset just past the first line end at or after <paramref name="from"/>, if one is before the end.</summary>
    private static async Task<long?> LineStartAfterAsync(EntityFile file, long from, long size, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        for (var at = from; at < size;)
        {
            var read = await RandomAccess.ReadAsync(file.Handle, buffer, at, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return null;
            }

            var newline = buffer.AsSpan(0, read).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var split = at + newline + 1;
                return split < size ? split : null;
            }

            at += read;
        }

        return null;
    }

    /// <summary>One row at a time (the <see cref="IRowReader"/> contract), boxed from a one-row batch.</summary>
    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        _single ??= new RowBatch(_columns, 1);
        _single.Clear();
        if (!await ReadBatchAsync(_single, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        var view = _single.View(0);
        var row = new object?[_columns.Length];
        for (var i = 0; i < row.Length; i++)
        {
            row[i] = view.GetValue(i);
        }

        _current = row;
        return true;
    }

    /// <summary>Parses lines straight into <paramref name="batch"/>: text as the line's UTF-8 (unescaped where it was escaped), numbers without boxing.</summary>
    public async ValueTask<bool> ReadBatchAsync(RowBatch batch, CancellationToken cancellationToken)
    {
        var added = false;
        while (!batch.IsFull)
        {
            var (found, length, consumed) = await NextLine(_reader, cancellationToken).ConfigureAwait(false);
            if (!found)
            {
                break;
            }

            _lineNumber++;
            added |= ParseRow(_reader.Buffer.AsSpan(_reader.Start, length), batch);
            _reader.Consume(consumed);
            _reader.Trim();
        }

        return added;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// <see cref="NextLineAsync"/>, but a line whole in the buffer is found without entering an async
    /// method (its state machine per line was a few percent of a JSONL total's CPU).
    /// </summary>
    private static ValueTask<(bool Found, int Length, int Consumed)> NextLine(FileChunkReader reader, CancellationToken cancellationToken) =>
        TryLine(reader, out var length, out var consumed)
            ? ValueTask.FromResult((true, length, consumed))
            : NextLineAsync(reader, cancellationToken);

    /// <summary>The next line at the reader's start when its line end is in the buffer already (what <see cref="NextLineAsync"/> finds first).</summary>
    private static bool TryLine(FileChunkReader reader, out int length, out int consumed)
    {
        var available = reader.Available;
        var end = available.IndexOf((byte)'\n');
        if (end < 0)
        {
            length = consumed = 0;
            return false;
        }

        length = end > 0 && available[end - 1] == '\r' ? end - 1 : end;
        consumed = end + 1;
        return true;
    }

    /// <summary>The next line (without its line end) at the reader's start; consumed includes the line end.</summary>
    private static async ValueTask<(bool Found, int Length, int Consumed)> NextLineAsync(FileChunkReader reader, CancellationToken cancellationToken)
    {
        var searched = 0;
        while (true)
        {
            var newline = reader.Available[searched..].IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var end = searched + newline;
                var length = end > 0 && reader.Available[end - 1] == '\r' ? end - 1 : end;
                return (true, length, end + 1);
            }

            searched = reader.Length;
            cancellationToken.ThrowIfCancellationRequested();
            if (!await reader.ReadMoreAsync(cancellationToken).ConfigureAwait(false))
            {
                if (reader.Length == 0)
                {
                    return (false, 0, 0);
                }

                var length = reader.Available[^1] == '\r' ? reader.Length - 1 : reader.Length;
                return (true, length, reader.Length);
            }
        }
    }

    private static bool IsBlank(ReadOnlySpan<byte> line) => line.Trim(" \t\r"u8).IsEmpty;

    /// <summary>Adds the line's row to <paramref name="batch"/>; false for a blank line.</summary>
    private bool ParseRow(ReadOnlySpan<byte> line, RowBatch batch)
    {
        if (IsBlank(line))
        {
            return false;
        }

        var row = batch.AddRow();
        try
        {
            ParseInto(line, batch, row);
            if (_order is not null)
            {
                CheckOrder(batch, row);
            }
        }
        catch
        {
            batch.RemoveLastRow();
            throw;
        }

        return true;
    }

    /// <summary>The first pass promised key order (so the delta does not sort): a row that breaks it fails the run here, by line.</summary>
    private void CheckOrder(RowBatch batch, int row)
    {
        if (_orderView is null || !ReferenceEquals(_orderView.Batch, batch))
        {
            _orderView = batch.CreateView();
        }

        _orderView.Row = row;
        _order!.BeginRow();
        for (var slot = 0; slot < _sortedKeys!.Length; slot++)
        {
            var c = _sortedKeys[slot];
            if (_columns[c].Kind == ColumnKind.Integer)
            {
                _order.SetInteger(slot, _orderView.GetInt64(c));
            }
            else
            {
                _order.SetText(slot, _orderView.GetUtf8(c));
            }
        }

        if (!_order.EndRow())
        {
            throw Error("the row's key comes before the previous row's, though the first pass found the rows in key order (did the file change during the run?)");
        }
    }

    private void ParseInto(ReadOnlySpan<byte> line, RowBatch batch, int row)
    {
        var json = new Utf8JsonReader(line);
        string? member = null;
        try
        {
            ExpectObject(ref json, _file.Path, _lineNumber);
            var guess = 0;
            while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
            {
                member = null;
                int column;
                // Lines usually repeat the same key order, so the next column is the likely match.
                if (guess < _utf8Names.Length && json.ValueTextEquals(_utf8Names[guess]))
                {
                    column = guess;
                }
                else if (!_index.TryGetValue(json.GetString()!, out column))
                {
                    throw Error($"key '{json.GetString()}' did not appear in the first pass (did the file change during the run?)");
                }

                guess = column + 1;
                member = _columns[column].Name;
                json.Read();
                Convert(ref json, line, column, batch, row);
            }

            while (json.Read())
            {
                // Reaching the end checks that nothing follows the object.
            }
        }
        catch (JsonException e)
        {
            throw Error($"invalid JSON{(member is null ? "" : $" in column '{member}'")}: {e.Message}", e);
        }
        catch (InvalidOperationException e) when (e is not RowValueException)
        {
            // Utf8JsonReader reports text it cannot transcode this way, not as a JsonException.
            throw Error($"{(member is null ? "a member name" : $"column '{member}'")}: invalid UTF-8: {e.Message}", e);
        }

        for (var i = 0; i < _isKey.Length; i++)
        {
            if (_isKey[i] && batch.IsNull(row, i))
            {
                throw Error($"key column '{_columns[i].Name}' is null or missing");
            }
        }
    }

    private void Convert(ref Utf8JsonReader json, ReadOnlySpan<byte> line, int c, RowBatch batch, int row)
    {
        var column = _columns[c];
        if (json.TokenType == JsonTokenType.Null)
        {
            batch.SetNull(row, c);
            return;
        }

        switch (column.Kind)
        {
            case ColumnKind.TimestampTz:
                if (json.TokenType != JsonTokenType.String)
                {
                    throw Error($"column '{column.Name}': expected an ISO 8601 timestamp string, found {json.TokenType}");
                }

                if (json.ValueSpan.IsEmpty)
                {
                    batch.SetNull(row, c);
                    return;
                }

                if (!json.ValueIsEscaped && FileValues.TryParseTimestamp(json.ValueSpan, out var timestamp))
                {
                    batch.SetTimestampTz(row, c, timestamp);
                    return;
                }

                var text = json.GetString()!;
                batch.SetTimestampTz(row, c, FileValues.TryParseTimestamp(text, out timestamp)
                    ? timestamp
                    : throw Error($"column '{column.Name}': '{text}' is not an ISO 8601 timestamp"));
                return;
            case ColumnKind.Geometry when json.TokenType is JsonTokenType.StartObject or JsonTokenType.String:
                var geometryStart = (int)json.TokenStartIndex;
                json.Skip();
                try
                {
                    batch.SetObject(row, c, GeometryText.FromJson(line[geometryStart..(int)json.BytesConsumed]));
                    return;
                }
                catch (Exception e) when (e is FormatException or JsonException or KeyNotFoundException or InvalidOperationException or DecoderFallbackException)
                {
                    throw Error($"column '{column.Name}': not a GeoJSON or WKT geometry: {e.Message}", e);
                }

            case ColumnKind.Text when json.TokenType == JsonTokenType.String:
                if (!Utf8.IsValid(json.ValueSpan))
                {
                    // The reader does not check a string's UTF-8 until it is decoded: decoding says what is wrong.
                    _ = json.GetString();
                }

                if (!json.ValueIsEscaped)
                {
                    // Unescaped, the string's bytes are its value.
                    batch.SetUtf8(row, c, json.ValueSpan);
                }
                else
                {
                    // Unescaping never lengthens a string.
                    var span = batch.ReserveBytes(row, c, json.ValueSpan.Length);
                    batch.TrimLastReserved(row, c, json.CopyString(span));
                }

                return;
            case ColumnKind.Boolean when json.TokenType is JsonTokenType.True or JsonTokenType.False:
                batch.SetBoolean(row, c, json.GetBoolean());
                return;
            case ColumnKind.Integer when json.TokenType == JsonTokenType.Number && json.TryGetInt64(out var l):
                batch.SetInt64(row, c, l);
                return;
            case ColumnKind.Decimal when json.TokenType == JsonTokenType.Number:
                if (!json.ValueSpan.ContainsAny((byte)'e', (byte)'E'))
                {
                    // Without an exponent a JSON number is already its canonical text (ASCII, digits as written).
                    batch.SetUtf8(row, c, json.ValueSpan);
                    return;
                }

                try
                {
                    batch.SetString(row, c, FileValues.CanonicalDecimal(json.ValueSpan));
                    return;
                }
                catch (FormatException e)
                {
                    throw Error($"column '{column.Name}': {e.Message}", e);
                }

            case ColumnKind.Json:
                var start = (int)json.TokenStartIndex;
                if (json.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    json.Skip();
                }

                var raw = line[start..(int)json.BytesConsumed];
                if (json.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray)
                {
                    RefuseDuplicateMembers(raw, column);
                }

                if (!Utf8.IsValid(raw))
                {
                    try
                    {
                        // Says where: the strict decoder names the first invalid byte.
                        _ = FileValues.StrictUtf8.GetString(raw);
                    }
                    catch (DecoderFallbackException e)
                    {
                        throw Error($"column '{column.Name}': invalid UTF-8 at byte {start + e.Index + 1} of the line", e);
                    }
                }

                batch.SetUtf8(row, c, raw);
                return;
            default:
                throw Error($"column '{column.Name}': a {json.TokenType} value does not fit kind {column.Kind} (did the file change during the run?)");
        }
    }

    /// <summary>A nested object with a repeated member would reach consumers ambiguous (which value wins depends on their parser).</summary>
    private void RefuseDuplicateMembers(ReadOnlySpan<byte> value, Column column)
    {
        if (_members.TryFindDuplicate(value, out var name))
        {
            if (name is not null)
            {
                throw Error($"column '{column.Name}': member '{name}' appears twice in a nested object; which value was meant is ambiguous");
            }

            return;
        }

        // An object too large for pairwise comparison: the document parser checks it with a hash table.
        try
        {
            using var _ = JsonDocument.Parse(value.ToArray(), NoDuplicates);
        }
        catch (JsonException e)
        {
            throw Error($"column '{column.Name}': {e.Message}", e);
        }
    }

    private static readonly JsonDocumentOptions NoDuplicates = new() { AllowDuplicateProperties = false };

    private readonly MemberNames _members = new();

    /// <summary>
    /// Finds a member name repeated within one object of a JSON value (already read once, so well formed),
    /// comparing unescaped names as bytes: a reader pass with the names in a reused buffer, where a
    /// <see cref="JsonDocument"/> per value would build and drop a document for every row.
    /// </summary>
    private sealed class MemberNames
    {
        // Names of the objects still open, back to back; (start, length) each, and where each object's names begin.
        private byte[] _bytes = new byte[256];
        private int _used;
        private readonly List<(int Start, int Length)> _names = [];
        private readonly Stack<(int FirstName, int Used)> _objects = new();

        private const int MaxPairwise = 64;

        /// <summary>False when an object has more than <see cref="MaxPairwise"/> members (not checked); else the first repeated name, or null.</summary>
        public bool TryFindDuplicate(ReadOnlySpan<byte> value, out string? duplicate)
        {
            duplicate = null;
            _used = 0;
            _names.Clear();
            _objects.Clear();
            var json = new Utf8JsonReader(value);
            while (json.Read())
            {
                switch (json.TokenType)
                {
                    case JsonTokenType.StartObject:
                        _objects.Push((_names.Count, _used));
                        break;
                    case JsonTokenType.EndObject:
                        var (first, used) = _objects.Pop();
                        _names.RemoveRange(first, _names.Count - first);
                        _used = used;
                        break;
                    case JsonTokenType.PropertyName:
                        var name = Add(ref json);
                        var firstName = _objects.Peek().FirstName;
                        if (_names.Count - firstName >= MaxPairwise)
                        {
                            return false;
                        }

                        for (var i = firstName; i < _names.Count; i++)
                        {
                            if (_bytes.AsSpan(_names[i].Start, _names[i].Length).SequenceEqual(name))
                            {
                                duplicate = Encoding.UTF8.GetString(name);
                                return true;
                            }
                        }

                        _names.Add((_used - name.Length, name.Length));
                        break;
                }
            }

            return true;
        }

        private ReadOnlySpan<byte> Add(ref Utf8JsonReader json)
        {
            var length = json.HasValueSequence ? (int)json.ValueSequence.Length : json.ValueSpan.Length;
            if (_bytes.Length - _used < length)
            {
                Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _used + length));
            }

            var written = json.CopyString(_bytes.AsSpan(_used));
            _used += written;
            return _bytes.AsSpan(_used - written, written);
        }
    }

    private SourceException Error(string message, Exception? inner = null) =>
        new($"Entity '{_entity.Name}': {_file.Path}:{_lineNumber}: {message}.", transient: false, inner);

    private static void ExpectObject(ref Utf8JsonReader json, string path, long lineNumber)
    {
        if (!json.Read() || json.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException($"line {lineNumber} of '{path}' is not a JSON object");
        }
    }

    /// <summary>Column discovery and kind inference of the first pass.</summary>
    private sealed class Inference(string entity, HashSet<string> keys, List<string> keyOrder, KeyOrder? order)
    {
        private readonly List<string> _names = [];
        private readonly List<byte[]> _utf8Names = [];
        // Per column, its place in the key (-1 for other columns), for following the key order.
        private readonly List<int> _keySlot = [];
        private byte[] _unescaped = new byte[64];

        public KeyOrder? Order => order;

        /// <summary>
        /// Adds what the pass over the rest of the file saw: its new columns after these, kinds joined,
        /// key order carried across the split. False when a key column holds another kind there (the
        /// one-thread pass then names the line).
        /// </summary>
        public bool Append(Inference later)
        {
            for (var i = 0; i < later._names.Count; i++)
            {
                var name = later._names[i];
                if (_index.TryGetValue(name, out var column))
                {
                    if (keys.Contains(name) && _seen[column] != Seen.None && later._seen[i] != Seen.None && Class(_seen[column]) != Class(later._seen[i]))
                    {
                        return false;
                    }

                    _seen[column] |= later._seen[i];
                }
                else
                {
                    _index[name] = _names.Count;
                    _names.Add(name);
                    _utf8Names.Add(later._utf8Names[i]);
                    _keySlot.Add(later._keySlot[i]);
                    _seen.Add(later._seen[i]);
                    _lastLine.Add(0);
                }
            }

            if (order is not null)
            {
                order.Append(later.Order!);
            }

            return true;
        }

        private static Seen Class(Seen seen) => (seen & (Seen.Integer | Seen.Number)) != 0 ? Seen.Number : seen;
        // The line each column was last seen on: a second sighting on the same line is a duplicated member.
        private readonly List<long> _lastLine = [];
        private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
        private readonly List<Seen> _seen = [];

        [Flags]
        private enum Seen
        {
            None = 0,
            Boolean = 1,
            Integer = 2,
            Number = 4,
            String = 8,
            Structure = 16,
        }

        public void Observe(ReadOnlySpan<byte> line, string path, long lineNumber)
        {
            if (IsBlank(line) || TryObserveFlat(line, path, lineNumber))
            {
                return;
            }

            var json = new Utf8JsonReader(line);
            string? member = null;
            try
            {
                ExpectObject(ref json, path, lineNumber);
                order?.BeginRow();
                var guess = 0;
                while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
                {
                    member = null;
                    int column;
                    string name;
                    // Lines usually repeat the same key order, so the next column is the likely match.
                    if (guess < _utf8Names.Count && json.ValueTextEquals(_utf8Names[guess]))
                    {
                        column = guess;
                        name = _names[column];
                    }
                    else
                    {
                        name = json.GetString()!;
                        if (!_index.TryGetValue(name, out column))
                        {
                            column = _names.Count;
                            _index[name] = column;
                            _names.Add(name);
                            _utf8Names.Add(Encoding.UTF8.GetBytes(name));
                            _keySlot.Add(keyOrder.IndexOf(name));
                            _seen.Add(Seen.None);
                            _lastLine.Add(0);
                        }
                    }

                    guess = column + 1;
                    member = name;
                    if (_lastLine[column] == lineNumber)
                    {
                        throw new SourceException($"Entity '{entity}': {path}:{lineNumber}: member '{name}' appears twice in the object; which value was meant is ambiguous.", transient: false);
                    }

                    _lastLine[column] = lineNumber;

                    json.Read();
                    var seen = json.TokenType switch
                    {
                        JsonTokenType.True or JsonTokenType.False => Seen.Boolean,
                        JsonTokenType.Number => json.TryGetInt64(out _) ? Seen.Integer : Seen.Number,
                        JsonTokenType.String => Seen.String,
                        JsonTokenType.StartObject or JsonTokenType.StartArray => Seen.Structure,
                        _ => Seen.None,
                    };
                    if (_keySlot[column] >= 0)
                    {
                        CheckKey(name, _seen[column], seen, path, lineNumber);
                    }

                    _seen[column] |= seen;
                    if (order is not null && _keySlot[column] >= 0)
                    {
                        Follow(ref json, order, _keySlot[column]);
                    }

                    if (json.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        json.Skip();
                    }
                }

                while (json.Read())
                {
                    // Validates the rest of the line.
                }

                order?.EndRow();
            }
            catch (JsonException e)
            {
                throw new SourceException($"Entity '{entity}': {path}:{lineNumber}: invalid JSON{(member is null ? "" : $" in column '{member}'")}: {e.Message}.", transient: false, e);
            }
            catch (InvalidOperationException e)
            {
                throw new SourceException($"Entity '{entity}': {path}:{lineNumber}: {(member is null ? "a member name" : $"column '{member}'")}: invalid UTF-8: {e.Message}.", transient: false, e);
            }
        }

        // The members of the line TryObserveFlat is reading: column, kind seen, value's bytes.
        private (int Column, Seen Seen, int Start, int Length)[] _pending = new (int, Seen, int, int)[16];

        /// <summary>
        /// What <see cref="Observe"/> learns from a line, without a JSON tokenizer: a line of valid UTF-8
        /// that is one object with unescaped member names is read member by member, each value's kind from
        /// its first bytes (numbers by JSON's grammar, strings to their closing quote, objects and arrays
        /// skipped by depth). The row pass reads every line with <see cref="Utf8JsonReader"/> again, which
        /// validates what is skipped here. False, having changed nothing the full pass would not, for
        /// anything else (escaped names, escaped key text, whatever is not JSON): then the full pass reads
        /// the line and says what is wrong. The first pass read the whole file with the tokenizer before
        /// any row could flow: 12-20% of a JSONL total's CPU.
        /// </summary>
        private bool TryObserveFlat(ReadOnlySpan<byte> line, string path, long lineNumber)
        {
            if (!Utf8.IsValid(line))
            {
                return false;
            }

            var at = SkipSpace(line, 0);
            if (at >= line.Length || line[at] != '{')
            {
                return false;
            }

            var count = 0;
            at = SkipSpace(line, at + 1);
            if (at < line.Length && line[at] == '}')
            {
                at++;
            }
            else
            {
                var guess = 0;
                while (true)
                {
                    if (at >= line.Length || line[at] != '"')
                    {
                        return false;
                    }

                    var close = line[(at + 1)..].IndexOfAny((byte)'"', (byte)'\\');
                    if (close < 0 || line[at + 1 + close] != '"')
                    {
                        return false;
                    }

                    var name = line.Slice(at + 1, close);
                    if (name.IndexOfAnyInRange((byte)0, (byte)0x1F) >= 0)
                    {
                        return false;
                    }

                    at = SkipSpace(line, at + close + 2);
                    if (at >= line.Length || line[at] != ':')
                    {
                        return false;
                    }

                    at = SkipSpace(line, at + 1);
                    var start = at;
                    if (!TrySkipValue(line, ref at, out var seen))
                    {
                        return false;
                    }

                    int column;
                    if (guess < _utf8Names.Count && name.SequenceEqual(_utf8Names[guess]))
                    {
                        column = guess;
                    }
                    else
                    {
                        var text = Encoding.UTF8.GetString(name);
                        if (!_index.TryGetValue(text, out column))
                        {
                            // As the full pass would: a new column, in the order of first sighting.
                            column = _names.Count;
                            _index[text] = column;
                            _names.Add(text);
                            _utf8Names.Add(name.ToArray());
                            _keySlot.Add(keyOrder.IndexOf(text));
                            _seen.Add(Seen.None);
                            _lastLine.Add(0);
                        }
                    }

                    if (seen == Seen.String && _keySlot[column] >= 0 && line.Slice(start, at - start).Contains((byte)'\\'))
                    {
                        // Key text with escapes: the full pass unescapes it for the order.
                        return false;
                    }

                    guess = column + 1;
                    if (count == _pending.Length)
                    {
                        Array.Resize(ref _pending, count * 2);
                    }

                    _pending[count++] = (column, seen, start, at - start);
                    at = SkipSpace(line, at);
                    if (at < line.Length && line[at] == ',')
                    {
                        at = SkipSpace(line, at + 1);
                        continue;
                    }

                    if (at < line.Length && line[at] == '}')
                    {
                        at++;
                        break;
                    }

                    return false;
                }
            }

            if (SkipSpace(line, at) != line.Length)
            {
                return false;
            }

            // The line is read: now what the full pass does per member, in member order, same errors.
            order?.BeginRow();
            for (var m = 0; m < count; m++)
            {
                var (column, seen, start, length) = _pending[m];
                var name = _names[column];
                if (_lastLine[column] == lineNumber)
                {
                    throw new SourceException($"Entity '{entity}': {path}:{lineNumber}: member '{name}' appears twice in the object; which value was meant is ambiguous.", transient: false);
                }

                _lastLine[column] = lineNumber;
                if (_keySlot[column] >= 0)
                {
                    CheckKey(name, _seen[column], seen, path, lineNumber);
                }

                _seen[column] |= seen;
                if (order is not null && _keySlot[column] >= 0)
                {
                    var value = line.Slice(start, length);
                    if (seen == Seen.Integer)
                    {
                        Utf8Parser.TryParse(value, out long key, out _);
                        order.SetInteger(_keySlot[column], key);
                    }
                    else if (seen == Seen.String)
                    {
                        order.SetText(_keySlot[column], value[1..^1]);
                    }
                    else
                    {
                        order.SetOther();
                    }
                }
            }

            order?.EndRow();
            return true;
        }

        private static int SkipSpace(ReadOnlySpan<byte> line, int at)
        {
            while (at < line.Length && line[at] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
            {
                at++;
            }

            return at;
        }

        /// <summary>Moves past one JSON value at <paramref name="at"/> and says its kind as <see cref="Observe"/> would; false when it is not one by these simple rules.</summary>
        private static bool TrySkipValue(ReadOnlySpan<byte> line, ref int at, out Seen seen)
        {
            seen = Seen.None;
            if (at >= line.Length)
            {
                return false;
            }

            switch (line[at])
            {
                case (byte)'"':
                    seen = Seen.String;
                    return TrySkipString(line, ref at);
                case (byte)'t':
                    seen = Seen.Boolean;
                    return TrySkipWord(line, ref at, "true"u8);
                case (byte)'f':
                    seen = Seen.Boolean;
                    return TrySkipWord(line, ref at, "false"u8);
                case (byte)'n':
                    return TrySkipWord(line, ref at, "null"u8);
                case (byte)'{' or (byte)'[':
                    seen = Seen.Structure;
                    var depth = 0;
                    while (at < line.Length)
                    {
                        var next = line[at..].IndexOfAny("\"{}[]"u8);
                        if (next < 0)
                        {
                            return false;
                        }

                        at += next;
                        switch (line[at])
                        {
                            case (byte)'"':
                                if (!TrySkipString(line, ref at))
                                {
                                    return false;
                                }

                                continue;
                            case (byte)'{' or (byte)'[':
                                depth++;
                                break;
                            default:
                                depth--;
                                break;
                        }

                        at++;
                        if (depth == 0)
                        {
                            return true;
                        }
                    }

                    return false;
                default:
                    return TrySkipNumber(line, ref at, out seen);
            }
        }

        private static bool TrySkipWord(ReadOnlySpan<byte> line, ref int at, ReadOnlySpan<byte> word)
        {
            if (!line[at..].StartsWith(word))
            {
                return false;
            }

            at += word.Length;
            return true;
        }

        /// <summary>A string from its opening quote past its closing one; escapes must be JSON's, raw control characters are refused.</summary>
        private static bool TrySkipString(ReadOnlySpan<byte> line, ref int at)
        {
            at++;
            while (true)
            {
                var next = line[at..].IndexOfAny((byte)'"', (byte)'\\');
                if (next < 0 || line.Slice(at, next).IndexOfAnyInRange((byte)0, (byte)0x1F) >= 0)
                {
                    return false;
                }

                at += next;
                if (line[at] == '"')
                {
                    at++;
                    return true;
                }

                // An escape: \" \\ \/ \b \f \n \r \t or \u and four hex digits.
                if (at + 1 >= line.Length)
                {
                    return false;
                }

                var e = line[at + 1];
                if (e == 'u')
                {
                    if (at + 6 > line.Length || !Utf8Parser.TryParse(line.Slice(at + 2, 4), out ushort _, out var used, 'X') || used != 4)
                    {
                        return false;
                    }

                    at += 6;
                }
                else if (e is (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t')
                {
                    at += 2;
                }
                else
                {
                    return false;
                }
            }
        }

        /// <summary>A number by JSON's grammar; Integer when it has no fraction or exponent and fits a long (what <c>TryGetInt64</c> says), Number otherwise.</summary>
        private static bool TrySkipNumber(ReadOnlySpan<byte> line, ref int at, out Seen seen)
        {
            seen = Seen.Number;
            var start = at;
            if (line[at] == '-')
            {
                at++;
            }

            var digits = Digits(line, ref at);
            if (digits == 0 || (digits > 1 && line[at - digits] == '0'))
            {
                return false;
            }

            var integer = true;
            if (at < line.Length && line[at] == '.')
            {
                at++;
                integer = false;
                if (Digits(line, ref at) == 0)
                {
                    return false;
                }
            }

            if (at < line.Length && line[at] is (byte)'e' or (byte)'E')
            {
                at++;
                integer = false;
                if (at < line.Length && line[at] is (byte)'+' or (byte)'-')
                {
                    at++;
                }

                if (Digits(line, ref at) == 0)
                {
                    return false;
                }
            }

            if (integer && Utf8Parser.TryParse(line[start..at], out long _, out var used) && used == at - start)
            {
                seen = Seen.Integer;
            }

            return true;
        }

        private static int Digits(ReadOnlySpan<byte> line, ref int at)
        {
            var start = at;
            while (at < line.Length && line[at] is >= (byte)'0' and <= (byte)'9')
            {
                at++;
            }

            return at - start;
        }

        private void Follow(ref Utf8JsonReader json, KeyOrder order, int slot)
        {
            switch (json.TokenType)
            {
                case JsonTokenType.Number when json.TryGetInt64(out var value):
                    order.SetInteger(slot, value);
                    break;
                case JsonTokenType.String when !json.ValueIsEscaped:
                    order.SetText(slot, json.ValueSpan);
                    break;
                case JsonTokenType.String:
                    if (_unescaped.Length < json.ValueSpan.Length)
                    {
                        _unescaped = new byte[json.ValueSpan.Length * 2];
                    }

                    order.SetText(slot, _unescaped.AsSpan(0, json.CopyString(_unescaped)));
                    break;
                default:
                    order.SetOther();
                    break;
            }
        }

        /// <summary>
        /// A key column (the caller checks <c>_keySlot</c>: a hash of the name per member and line cost
        /// more than the rest of this check) must hold one kind (integers and decimals count as numbers):
        /// mixed kinds would make the key a JSON column, which cannot be compared. Said here, where the line is known.
        /// </summary>
        private void CheckKey(string name, Seen before, Seen now, string path, long lineNumber)
        {
            if (now == Seen.None)
            {
                return;
            }

            if (now == Seen.Structure || (before != Seen.None && Class(before) != Class(now)))
            {
                var found = now == Seen.Structure ? "an object or array" : now.ToString().ToLowerInvariant();
                var earlier = before == Seen.None ? "" : $" where earlier lines hold {before.ToString().ToLowerInvariant()} values";
                throw new SourceException($"Entity '{entity}': {path}:{lineNumber}: key column '{name}' holds {found}{earlier}; a key column must hold values of one kind.", transient: false);
            }
        }

        public Column[] Columns(EntityLayout layout)
        {
            var columns = new Column[_names.Count];
            for (var i = 0; i < columns.Length; i++)
            {
                var name = _names[i];
                var kind = layout.ForcedKind(name) ?? _seen[i] switch
                {
                    Seen.None or Seen.String => ColumnKind.Text,
                    Seen.Boolean => ColumnKind.Boolean,
                    Seen.Integer => ColumnKind.Integer,
                    Seen.Number or (Seen.Integer | Seen.Number) => ColumnKind.Decimal,
                    _ => ColumnKind.Json,
                };
                columns[i] = new Column(name, kind, Nullable: !layout.Keys.Contains(name));
            }

            return columns;
        }
    }
}
