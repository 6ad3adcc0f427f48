using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Sources;
using BulkExport.Publishing.Layout;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Pipeline;

/// <summary>What a consumer upserts and deletes on: the key, plus registration and effect start for temporal entities.</summary>
internal static class EntityIdentity
{
    public static IReadOnlyList<string> Columns(EntitySpec entity) => entity.Temporal is { } t
        ? [.. entity.Key, t.RegistrationFrom, t.EffectiveFrom]
        : entity.Key;
}

/// <summary>
/// The one place a row's digest is computed: SHA-256 over its canonical bytes (README, "Canonical row
/// bytes"), the same bytes a consumer rebuilds from the published JSON. The digest is both the row
/// hash the delta state compares (its first 16 bytes) and the row's term of the content fingerprint,
/// so one hash per row serves both. Not thread-safe: one instance per stage.
/// </summary>
internal sealed class RowDigest : IDisposable
{
    public const int Length = 32;

    private readonly IReadOnlyList<Column> _columns;
    // The columns' kinds, read per value on the batch path without an interface call.
    private readonly ColumnKind[] _kinds;
    // Columns in code-point order of their names, with the canonical `"name":` bytes of each.
    private readonly int[] _order;
    private readonly byte[][] _names;
    private readonly byte[][] _rawNames;
    private readonly ArrayBufferWriter<byte> _canonical = new(1024);
    // Where member n (in code-point order) starts in _canonical, for the last row computed with a view.
    private readonly int[] _memberStarts;
    private bool _hasCanonical;
    private readonly ArrayBufferWriter<byte> _scratch = new(256);
    private readonly RowSha256 _sha = new();

    public RowDigest(IReadOnlyList<Column> columns)
    {
        _columns = columns;
        _kinds = [.. columns.Select(c => c.Kind)];
        var utf8 = columns.Select(c => Encoding.UTF8.GetBytes(c.Name)).ToArray();
        _order = [.. Enumerable.Range(0, columns.Count).OrderBy(i => utf8[i], Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b)))];
        _rawNames = utf8;
        _memberStarts = new int[columns.Count];
        _names = new byte[columns.Count][];
        for (var i = 0; i < columns.Count; i++)
        {
            var name = new ArrayBufferWriter<byte>();
            CanonicalJson.WriteString(utf8[i], name);
            name.Write(":"u8);
            _names[i] = name.WrittenSpan.ToArray();
        }
    }

    /// <summary>Writes the row's digest (32 bytes) into <paramref name="digest"/>.</summary>
    public void Compute(object?[] row, Span<byte> digest)
    {
        _hasCanonical = false;
        _canonical.ResetWrittenCount();
        WriteCanonical(row, _canonical);
        _sha.AppendData(_canonical.WrittenSpan);
        _sha.GetHashAndReset(digest);
    }

    /// <summary>Writes the digest of a row seen through a view: the same bytes as for its boxed values.</summary>
    public void Compute(IRowView row, Span<byte> digest)
    {
        if (row is ObjectRowView boxed)
        {
            Compute(boxed.Values, digest);
            return;
        }

        _canonical.ResetWrittenCount();
        if (row is RowBatch.BatchRowView view && TakesBatchPath(view.Batch))
        {
            WriteCanonical(view.Batch, view.Row);
        }
        else
        {
            WriteCanonical(row, _canonical, _memberStarts);
        }

        _hasCanonical = true;
        _sha.AppendData(_canonical.WrittenSpan);
        _sha.GetHashAndReset(digest);
    }

    /// <summary>Where a member named <paramref name="name"/> goes among this digest's columns (code-point order).</summary>
    public int InsertionIndex(string name)
    {
        var utf8 = Encoding.UTF8.GetBytes(name);
        var n = 0;
        while (n < _order.Length && _rawNames[_order[n]].AsSpan().SequenceCompareTo(utf8) < 0)
        {
            n++;
        }

        return n;
    }

    /// <summary>
    /// The digest of the last row <see cref="Compute(IRowView, Span{byte})"/> computed, with one more member
    /// (<paramref name="member"/>: its canonical <c>"name":value</c> bytes) at <paramref name="index"/>
    /// (<see cref="InsertionIndex"/>): the digest a digest over the columns plus that one would compute,
    /// without writing the row's canonical bytes again. A delta record is its row plus the operation.
    /// </summary>
    public void ComputeWithMember(int index, ReadOnlySpan<byte> member, Span<byte> digest)
    {
        if (!_hasCanonical)
        {
            throw new InvalidOperationException("No row's canonical bytes are at hand.");
        }

        var canonical = _canonical.WrittenSpan;
        if (index < _order.Length)
        {
            var at = _memberStarts[index];
            _sha.AppendData(canonical[..at]);
            _sha.AppendData(member);
            _sha.AppendData(","u8);
            _sha.AppendData(canonical[at..]);
        }
        else
        {
            _sha.AppendData(canonical[..^1]);
            if (_order.Length > 0)
            {
                _sha.AppendData(","u8);
            }

            _sha.AppendData(member);
            _sha.AppendData("}"u8);
        }

        _sha.GetHashAndReset(digest);
    }

    private static readonly SearchValues<byte> NeedsEscape = SearchValues.Create([.. Enumerable.Range(0, 0x20).Select(i => (byte)i), (byte)'"', (byte)'\\']);

    // The last batch checked for the batch path (batches are pooled and reused, so this holds for many calls).
    private RowBatch? _checkedBatch;
    private bool _checkedResult;

    /// <summary>
    /// Whether rows of <paramref name="batch"/> can be written by <see cref="WriteCanonical(RowBatch, int)"/>:
    /// its columns are this digest's, and of the kinds that path writes (not Geometry or Bytes, arrays only of integers).
    /// </summary>
    internal bool TakesBatchPath(RowBatch batch)
    {
        if (ReferenceEquals(batch, _checkedBatch))
        {
            return _checkedResult;
        }

        var columns = batch.Columns;
        var ok = columns.Count == _columns.Count;
        for (var i = 0; ok && i < columns.Count; i++)
        {
            ok = columns[i].Kind == _columns[i].Kind && columns[i].ElementKind == _columns[i].ElementKind
                && (columns[i].Kind is not (ColumnKind.Geometry or ColumnKind.Bytes))
                && (columns[i].Kind != ColumnKind.Array || columns[i].ElementKind == ColumnKind.Integer);
        }

        _checkedBatch = batch;
        _checkedResult = ok;
        return ok;
    }

    /// <summary>
    /// The canonical bytes of a batch row into <see cref="_canonical"/>, read from the batch's arrays without
    /// an interface call or a kind test per value: the bytes of <see cref="WriteCanonical(IRowView, IBufferWriter{byte})"/>
    /// (tests compare them), for the kinds <see cref="TakesBatchPath"/> admits.
    /// </summary>
    private void WriteCanonical(RowBatch batch, int row)
    {
        // Written into one span of the buffer, committed only around the calls that take the writer itself
        // (escaped text, JSON, arrays): a GetSpan and an Advance per piece were a fifth of this method's time.
        var output = _canonical;
        var at = 0;
        var span = output.GetSpan(256);
        span[at++] = (byte)'{';
        for (var n = 0; n < _order.Length; n++)
        {
            var i = _order[n];
            var name = _names[i];
            // Room for the separator, the name and any fixed-width value; text makes room for itself below.
            if (span.Length - at < name.Length + ScalarText.MaxScalarBytes + 8)
            {
                span = Commit(output, ref at, name.Length + ScalarText.MaxScalarBytes + 256);
            }

            if (n > 0)
            {
                span[at++] = (byte)',';
            }

            _memberStarts[n] = output.WrittenCount + at;
            name.CopyTo(span[at..]);
            at += name.Length;
            if (batch.IsNull(row, i))
            {
                "null"u8.CopyTo(span[at..]);
                at += 4;
                continue;
            }

            var kind = _kinds[i];
            switch (kind)
            {
                case ColumnKind.Text:
                    var text = batch.BytesAt(row, i);
                    if (text.IndexOfAny(NeedsEscape) < 0)
                    {
                        if (span.Length - at < text.Length + 2)
                        {
                            span = Commit(output, ref at, text.Length + 256);
                        }

                        span[at] = (byte)'"';
                        text.CopyTo(span[(at + 1)..]);
                        at += text.Length + 2;
                        span[at - 1] = (byte)'"';
                    }
                    else
                    {
                        Flush(output, ref at);
                        CanonicalJson.WriteString(text, output);
                        span = output.GetSpan(256);
                    }

                    break;
                case ColumnKind.Decimal:
                    var number = batch.BytesAt(row, i);
                    if (ScalarText.IsJsonNumber(number))
                    {
                        if (span.Length - at < number.Length)
                        {
                            span = Commit(output, ref at, number.Length + 256);
                        }

                        number.CopyTo(span[at..]);
                        at += number.Length;
                    }
                    else
                    {
                        Flush(output, ref at);
                        CanonicalJson.WriteString(number, output);
                        span = output.GetSpan(256);
                    }

                    break;
                case ColumnKind.Integer:
                    at += ScalarText.FormatInt64(batch.WordAt(row, i), span[at..]);
                    break;
                case ColumnKind.Float:
                    if (batch.TryGetSpelling(row, i, out var kept))
                    {
                        // The source read the value from this very text (FileValues.TryParseCanonicalDouble).
                        kept.CopyTo(span[at..]);
                        at += kept.Length;
                        break;
                    }

                    var d = BitConverter.Int64BitsToDouble(batch.WordAt(row, i));
                    if (ScalarText.NonFiniteName(d) is { } nonFinite)
                    {
                        Flush(output, ref at);
                        CanonicalJson.WriteString(nonFinite, output);
                        span = output.GetSpan(256);
                    }
                    else
                    {
                        var length = ScalarText.FormatDouble(d, span[at..]);
                        batch.KeepSpelling(row, i, span.Slice(at, length));
                        at += length;
                    }

                    break;
                case ColumnKind.Boolean:
                    var boolean = batch.WordAt(row, i) != 0 ? "true"u8 : "false"u8;
                    boolean.CopyTo(span[at..]);
                    at += boolean.Length;
                    break;
                case ColumnKind.Date or ColumnKind.Timestamp or ColumnKind.TimestampTz or ColumnKind.Uuid:
                    var written = kind == ColumnKind.Uuid
                        ? ScalarText.FormatUuid(batch.GuidAt(row, i), span[(at + 1)..])
                        : ScalarText.FormatWord(kind, batch.WordAt(row, i), span[(at + 1)..]);
                    // The formats spell these values the same way (ScalarText), so they copy them from the batch.
                    batch.KeepSpelling(row, i, span.Slice(at + 1, written));
                    span[at] = (byte)'"';
                    span[at + written + 1] = (byte)'"';
                    at += written + 2;
                    break;
                case ColumnKind.Json:
                    Flush(output, ref at);
                    CanonicalJsonFastPath.Write(batch.BytesAt(row, i), output);
                    span = output.GetSpan(256);
                    break;
                default:
                    Flush(output, ref at);
                    // Array (TakesBatchPath admits only integer arrays): unboxed, or boxed when it has NULL elements.
                    if (batch.TryInt64ArrayAt(row, i, out var integers, out var boxed))
                    {
                        WriteIntegers(integers, output);
                    }
                    else
                    {
                        WriteValue(_columns[i], kind, boxed, output);
                    }

                    span = output.GetSpan(256);
                    break;
            }
        }

        if (at == span.Length)
        {
            span = Commit(output, ref at, 1);
        }

        span[at++] = (byte)'}';
        output.Advance(at);
    }

    /// <summary>Commits the <paramref name="at"/> bytes written into the last span and returns a fresh span of at least <paramref name="room"/>.</summary>
    private static Span<byte> Commit(ArrayBufferWriter<byte> output, scoped ref int at, int room)
    {
        Flush(output, ref at);
        return output.GetSpan(room);
    }

    /// <summary>Commits the <paramref name="at"/> bytes written into the last span, before a call that writes through the writer.</summary>
    private static void Flush(ArrayBufferWriter<byte> output, ref int at)
    {
        output.Advance(at);
        at = 0;
    }

    /// <summary>An integer array's canonical bytes, those of the boxed path for the same elements: [1,2,3].</summary>
    private static void WriteIntegers(ReadOnlySpan<long> integers, IBufferWriter<byte> output)
    {
        var array = output.GetSpan((integers.Length * 21) + 2);
        var at = 0;
        array[at++] = (byte)'[';
        for (var e = 0; e < integers.Length; e++)
        {
            if (e > 0)
            {
                array[at++] = (byte)',';
            }

            at += ScalarText.FormatInt64(integers[e], array[at..]);
        }

        array[at++] = (byte)']';
        output.Advance(at);
    }

    /// <summary>
    /// The canonical bytes of a row from its typed getters: text, decimals and JSON straight from their
    /// UTF-8, numbers and times formatted once; only arrays and geometry take the boxed path.
    /// </summary>
    public void WriteCanonical(IRowView row, IBufferWriter<byte> output) => WriteCanonical(row, output, null);

    private void WriteCanonical(IRowView row, IBufferWriter<byte> output, int[]? memberStarts)
    {
        output.Write("{"u8);
        for (var n = 0; n < _order.Length; n++)
        {
            var i = _order[n];
            if (n > 0)
            {
                output.Write(","u8);
            }

            if (memberStarts is not null)
            {
                memberStarts[n] = _canonical.WrittenCount;
            }

            output.Write(_names[i]);
            if (row.IsNull(i))
            {
                output.Write("null"u8);
                continue;
            }

            var column = _columns[i];
            switch (column.Kind)
            {
                case ColumnKind.Text:
                    CanonicalJson.WriteString(row.GetUtf8(i), output);
                    break;
                case ColumnKind.Decimal:
                    var text = row.GetUtf8(i);
                    if (ScalarText.IsJsonNumber(text))
                    {
                        output.Write(text);
                    }
                    else
                    {
                        CanonicalJson.WriteString(text, output);
                    }

                    break;
                case ColumnKind.Integer:
                    var integer = output.GetSpan(ScalarText.MaxScalarBytes);
                    output.Advance(ScalarText.FormatInt64(row.GetInt64(i), integer));
                    break;
                case ColumnKind.Float:
                    var d = row.GetDouble(i);
                    if (ScalarText.NonFiniteName(d) is { } name)
                    {
                        CanonicalJson.WriteString(name, output);
                    }
                    else
                    {
                        var number = output.GetSpan(ScalarText.MaxScalarBytes);
                        output.Advance(ScalarText.FormatDouble(d, number));
                    }

                    break;
                case ColumnKind.Boolean:
                    output.Write(row.GetBoolean(i) ? "true"u8 : "false"u8);
                    break;
                case ColumnKind.Date or ColumnKind.Timestamp or ColumnKind.TimestampTz or ColumnKind.Uuid:
                    // These spellings need no escaping.
                    var quoted = output.GetSpan(ScalarText.MaxScalarBytes + 2);
                    var written = ScalarText.Format(row, i, quoted[1..]);
                    quoted[0] = (byte)'"';
                    quoted[written + 1] = (byte)'"';
                    output.Advance(written + 2);
                    break;
                case ColumnKind.Json:
                    // jsonb's text is canonical but for its white space in most rows: then no JSON reader.
                    CanonicalJsonFastPath.Write(row.GetUtf8(i), output);
                    break;
                case ColumnKind.Geometry:
                    // The GeoJSON's UTF-8 as the batch holds it: the bytes WriteJson makes of the boxed GeoJSON;
                    // PostGIS's usual shape is reordered without a JSON reader (GeoJsonShape proves it the same).
                    if (GeoJsonShape.TryParse(row, i, out var type, out var crs, out var coordinates))
                    {
                        GeoJsonShape.WriteCanonical(type, crs, coordinates, output);
                    }
                    else
                    {
                        CanonicalJson.Write(row.GetGeometryUtf8(i).GeoJson, output);
                    }

                    break;
                case ColumnKind.Bytes:
                    var bytes = row.GetBytes(i);
                    var base64 = output.GetSpan(System.Buffers.Text.Base64.GetMaxEncodedToUtf8Length(bytes.Length) + 2);
                    base64[0] = (byte)'"';
                    System.Buffers.Text.Base64.EncodeToUtf8(bytes, base64[1..], out _, out var encoded);
                    base64[encoded + 1] = (byte)'"';
                    output.Advance(encoded + 2);
                    break;
                case ColumnKind.Array when row.TryGetInt64Array(i, out var integers):
                    WriteIntegers(integers, output);
                    break;
                default:
                    WriteValue(column, column.Kind, row.GetValue(i), output);
                    break;
            }
        }

        output.Write("}"u8);
    }

    /// <summary>The canonical bytes of a row: a JSON object with members in code-point order of their names.</summary>
    public void WriteCanonical(object?[] row, IBufferWriter<byte> output)
    {
        output.Write("{"u8);
        for (var n = 0; n < _order.Length; n++)
        {
            var i = _order[n];
            if (n > 0)
            {
                output.Write(","u8);
            }

            output.Write(_names[i]);
            var column = _columns[i];
            WriteValue(column, column.Kind, row[i], output);
        }

        output.Write("}"u8);
    }

    // Mirrors JsonValues.WriteValue: every value is the canonical form of what the JSON formats publish.
    private void WriteValue(Column column, ColumnKind kind, object? value, IBufferWriter<byte> output)
    {
        if (value is null)
        {
            output.Write("null"u8);
            return;
        }

        switch (kind)
        {
            case ColumnKind.Text:
                CanonicalJson.WriteString(value as string ?? throw ScalarText.Mismatch(value, column), output);
                break;
            case ColumnKind.Decimal:
                var text = ScalarText.DecimalString(value, column);
                if (ScalarText.IsJsonNumber(text))
                {
                    WriteAscii(text, output);
                }
                else
                {
                    CanonicalJson.WriteString(text, output);
                }

                break;
            case ColumnKind.Float when ScalarText.NonFiniteName(ScalarText.ToDouble(value, column)) is { } name:
                CanonicalJson.WriteString(name, output);
                break;
            case ColumnKind.Integer or ColumnKind.Float or ColumnKind.Boolean:
                var span = output.GetSpan(ScalarText.MaxScalarBytes);
                output.Advance(ScalarText.Format(kind, value, column, span));
                break;
            case ColumnKind.Date or ColumnKind.Timestamp or ColumnKind.TimestampTz or ColumnKind.Uuid:
                // These spellings need no escaping.
                var quoted = output.GetSpan(ScalarText.MaxScalarBytes + 2);
                var written = ScalarText.Format(kind, value, column, quoted[1..]);
                quoted[0] = (byte)'"';
                quoted[written + 1] = (byte)'"';
                output.Advance(written + 2);
                break;
            case ColumnKind.Json:
                WriteJson(value is RawJson raw ? raw.Json : throw ScalarText.Mismatch(value, column), output);
                break;
            case ColumnKind.Geometry:
                WriteJson(value is GeometryValue g ? g.GeoJson : throw ScalarText.Mismatch(value, column), output);
                break;
            case ColumnKind.Bytes:
                WriteAscii(Convert.ToBase64String(value as byte[] ?? throw ScalarText.Mismatch(value, column)), output, quote: true);
                break;
            case ColumnKind.Array:
                var items = value as object?[] ?? throw ScalarText.Mismatch(value, column);
                var elementKind = column.ElementKind ?? ColumnKind.Text;
                output.Write("["u8);
                for (var i = 0; i < items.Length; i++)
                {
                    if (i > 0)
                    {
                        output.Write(","u8);
                    }

                    if (items[i] is object?[] && elementKind != ColumnKind.Json)
                    {
                        WriteValue(column, ColumnKind.Array, items[i], output);
                    }
                    else
                    {
                        WriteValue(column, elementKind, items[i], output);
                    }
                }

                output.Write("]"u8);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    private void WriteJson(string json, IBufferWriter<byte> output)
    {
        _scratch.ResetWrittenCount();
        var max = Encoding.UTF8.GetMaxByteCount(json.Length);
        var n = Encoding.UTF8.GetBytes(json, _scratch.GetSpan(max));
        _scratch.Advance(n);
        CanonicalJsonFastPath.Write(_scratch.WrittenSpan, output);
    }

    private static void WriteAscii(string text, IBufferWriter<byte> output, bool quote = false)
    {
        var extra = quote ? 2 : 0;
        var span = output.GetSpan(text.Length + extra);
        var at = 0;
        if (quote)
        {
            span[at++] = (byte)'"';
        }

        at += Encoding.ASCII.GetBytes(text, span[at..]);
        if (quote)
        {
            span[at++] = (byte)'"';
        }

        output.Advance(at);
    }

    public void Dispose() => _sha.Dispose();
}
