using System.Buffers;
using System.Text.Json;
using BulkExport.Api;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Formats;

/// <summary>JSON: one array per file, one row object per line, so the file is valid JSON and still greppable.</summary>
internal sealed class JsonFormat : IStreamedFormat
{
    public string Name => "JSON";

    public string Extension => "json";

    public IRecordEncoder CreateEncoder(FormatSchema schema) =>
        new JsonRecordEncoder(schema.Columns, header: "["u8.ToArray(), footer: "\n]\n"u8.ToArray());

    public IReadOnlyList<CompanionFile> CompanionFiles(FormatSchema schema) => [];
}

/// <summary>JSON Lines: one row object per line, nothing around them.</summary>
internal sealed class JsonLinesFormat : IStreamedFormat
{
    public string Name => "JSONL";

    public string Extension => "jsonl";

    public IRecordEncoder CreateEncoder(FormatSchema schema) => new JsonLinesRecordEncoder(schema.Columns);

    public IReadOnlyList<CompanionFile> CompanionFiles(FormatSchema schema) => [];
}

/// <summary>
/// Rows between a fixed header and footer, separated by ",\n". The footer does not depend on the
/// rows, which the part splitter relies on when it reserves room for it.
/// </summary>
internal sealed class JsonRecordEncoder : IRecordEncoder
{
    private readonly byte[] _header;
    private readonly byte[] _footer;
    private readonly JsonRowObjects _objects;
    private bool _first = true;

    public JsonRecordEncoder(IReadOnlyList<Column> columns, byte[] header, byte[] footer)
    {
        _header = header;
        _footer = footer;
        _objects = new JsonRowObjects(columns);
    }

    public void WriteHeader(IBufferWriter<byte> output) => output.Write(_header);

    public void WriteRecord(IRowView row, IBufferWriter<byte> output)
    {
        output.Write(_first ? "\n"u8 : ",\n"u8);
        _first = false;
        _objects.Write(row, output);
    }

    public void WriteFooter(IBufferWriter<byte> output) => output.Write(_footer);
}

internal sealed class JsonLinesRecordEncoder(IReadOnlyList<Column> columns) : IRecordEncoder
{
    private readonly JsonRowObjects _objects = new(columns);

    public void WriteHeader(IBufferWriter<byte> output)
    {
    }

    public void WriteRecord(IRowView row, IBufferWriter<byte> output)
    {
        _objects.Write(row, output);
        output.Write("\n"u8);
    }

    public void WriteFooter(IBufferWriter<byte> output)
    {
    }
}

/// <summary>
/// A row as one JSON object, <c>{"column":value,…}</c>, the same bytes in JSON and JSONL. The object does
/// not depend on the file, so a delta record (the row's members, then its operation) and the total's
/// record of the same row share it: whichever writer comes first keeps it in the row's batch
/// (<see cref="RowBatch.KeepRecord"/>), the other copies it. A first total writes every row to both,
/// and formatted every row twice before.
/// </summary>
internal sealed class JsonRowObjects(IReadOnlyList<Column> columns)
{
    /// <summary>Every JSON object writer keeps and finds records under this one key: their bytes are the same.</summary>
    private static readonly object MemoKey = new();

    private readonly JsonEncodedText[] _names = JsonValues.EncodeNames(columns);
    private readonly Utf8JsonWriter _writer = new(new ArrayBufferWriter<byte>(1), JsonValues.WriterOptions);
    private readonly ArrayBufferWriter<byte> _record = new(1024);
    private readonly ArrayBufferWriter<byte> _tail = new(64);
    private readonly BatchRowPath _batchPath = new(columns);
    // Each member's `"name":` as the writer spells it, for the batch path.
    private byte[][]? _members;

    /// <summary>
    /// A batch row's object written straight from the batch's arrays into one span reserved for it: the bytes
    /// <see cref="Utf8JsonWriter"/> writes (tests compare them), without a writer call per value. False, having
    /// written nothing, for a batch of other columns or kinds (bytes, geometry, non-integer arrays) and for a
    /// row with a value the writer would change or check: text the encoder escapes, JSON the fast check does
    /// not pass as well-formed, a boxed array.
    /// </summary>
    private bool TryWriteBatchObject(RowBatch batch, int row, IBufferWriter<byte> output)
    {
        if (!_batchPath.Accepts(batch))
        {
            return false;
        }

        var kinds = _batchPath.Kinds.AsSpan(0, batch.Columns.Count);
        var members = _members ??= [.. _names.Select(n => (byte[])[(byte)'"', .. n.EncodedUtf8Bytes, (byte)'"', (byte)':'])];
        var encoder = JsonValues.WriterOptions.Encoder!;
        var bound = 2;
        for (var i = 0; i < kinds.Length; i++)
        {
            bound += members[i].Length + 1;
            if (batch.IsNull(row, i))
            {
                bound += 4;
                continue;
            }

            switch (kinds[i])
            {
                case ColumnKind.Text:
                    var text = batch.BytesAt(row, i);
                    if (encoder.FindFirstCharacterToEncodeUtf8(text) >= 0)
                    {
                        return false;
                    }

                    bound += text.Length + 2;
                    break;
                case ColumnKind.Decimal:
                    var number = batch.BytesAt(row, i);
                    if (!ScalarText.IsJsonNumber(number) && encoder.FindFirstCharacterToEncodeUtf8(number) >= 0)
                    {
                        return false;
                    }

                    bound += number.Length + 2;
                    break;
                case ColumnKind.Json:
                    var json = batch.BytesAt(row, i);
                    if (!CanonicalJsonFastPath.IsWellFormed(json))
                    {
                        return false;
                    }

                    bound += json.Length;
                    break;
                case ColumnKind.Array:
                    if (!batch.TryInt64ArrayAt(row, i, out var integers, out _))
                    {
                        return false;
                    }

                    bound += (integers.Length * 21) + 2;
                    break;
                default:
                    bound += ScalarText.MaxScalarBytes + 2;
                    break;
            }
        }

        var span = output.GetSpan(bound);
        span[0] = (byte)'{';
        var at = 1;
        for (var i = 0; i < kinds.Length; i++)
        {
            if (i > 0)
            {
                span[at++] = (byte)',';
            }

            members[i].CopyTo(span[at..]);
            at += members[i].Length;
            if (batch.IsNull(row, i))
            {
                "null"u8.CopyTo(span[at..]);
                at += 4;
                continue;
            }

            var kind = kinds[i];
            switch (kind)
            {
                case ColumnKind.Text:
                    at += Quoted(batch.BytesAt(row, i), span[at..]);
                    break;
                case ColumnKind.Decimal:
                    var number = batch.BytesAt(row, i);
                    if (ScalarText.IsJsonNumber(number))
                    {
                        number.CopyTo(span[at..]);
                        at += number.Length;
                    }
                    else
                    {
                        at += Quoted(number, span[at..]);
                    }

                    break;
                case ColumnKind.Json:
                    var json = batch.BytesAt(row, i);
                    json.CopyTo(span[at..]);
                    at += json.Length;
                    break;
                case ColumnKind.Integer:
                    at += ScalarText.FormatInt64(batch.WordAt(row, i), span[at..]);
                    break;
                case ColumnKind.Boolean:
                    var boolean = batch.WordAt(row, i) != 0 ? "true"u8 : "false"u8;
                    boolean.CopyTo(span[at..]);
                    at += boolean.Length;
                    break;
                case ColumnKind.Float:
                    if (ScalarText.NonFiniteName(BitConverter.Int64BitsToDouble(batch.WordAt(row, i))) is { } name)
                    {
                        // The writer's string of an ASCII name: quoted as is.
                        span[at++] = (byte)'"';
                        at += System.Text.Encoding.ASCII.GetBytes(name, span[at..]);
                        span[at++] = (byte)'"';
                    }
                    else
                    {
                        at += ScalarText.Format(batch, row, i, kind, span[at..]);
                    }

                    break;
                case ColumnKind.Array:
                    batch.TryInt64ArrayAt(row, i, out var integers, out _);
                    span[at++] = (byte)'[';
                    for (var e = 0; e < integers.Length; e++)
                    {
                        if (e > 0)
                        {
                            span[at++] = (byte)',';
                        }

                        at += ScalarText.FormatInt64(integers[e], span[at..]);
                    }

                    span[at++] = (byte)']';
                    break;
                default:
                    // Date, Timestamp, TimestampTz, Uuid: a string of their spelling.
                    span[at++] = (byte)'"';
                    at += ScalarText.Format(batch, row, i, kind, span[at..]);
                    span[at++] = (byte)'"';
                    break;
            }
        }

        span[at++] = (byte)'}';
        output.Advance(at);
        return true;
    }

    /// <summary>Text the encoder leaves as it is, as a JSON string.</summary>
    private static int Quoted(ReadOnlySpan<byte> utf8, Span<byte> span)
    {
        span[0] = (byte)'"';
        utf8.CopyTo(span[1..]);
        span[utf8.Length + 1] = (byte)'"';
        return utf8.Length + 2;
    }

    public void Write(IRowView row, IBufferWriter<byte> output)
    {
        if (row.Columns.Count != columns.Count)
        {
            throw new ArgumentException($"Row has {row.Columns.Count} values for {columns.Count} columns.", nameof(row));
        }

        if (row is RowBatch.BatchRowView batchRow && batchRow.Batch.TryGetRecord(batchRow.Row, MemoKey, out var kept))
        {
            output.Write(kept);
            return;
        }

        if (row is IExtendedRowView { Inner: RowBatch.BatchRowView inner } extended && inner.Columns.Count > 0)
        {
            // The row's own object, kept for the total, then the extra members spliced in before its brace:
            // exactly the bytes one object of all the members would be (no whitespace, one comma between).
            var width = inner.Columns.Count;
            _record.ResetWrittenCount();
            WriteObject(inner, 0, width, _record);
            inner.Batch.KeepRecord(inner.Row, MemoKey, _record.WrittenSpan);
            _tail.ResetWrittenCount();
            WriteObject(extended, width, columns.Count, _tail);
            output.Write(_record.WrittenSpan[..^1]);
            output.Write(","u8);
            output.Write(_tail.WrittenSpan[1..]);
            return;
        }

        WriteObject(row, 0, columns.Count, output);
    }

    private void WriteObject(IRowView row, int from, int to, IBufferWriter<byte> output)
    {
        // A delta record's row (to short of the operation member) takes the batch path too.
        if (from == 0 && row is RowBatch.BatchRowView view && view.Batch.Columns.Count == to && TryWriteBatchObject(view.Batch, view.Row, output))
        {
            return;
        }

        _writer.Reset(output);
        _writer.WriteStartObject();
        for (var i = from; i < to; i++)
        {
            _writer.WritePropertyName(_names[i]);
            JsonValues.WriteValue(_writer, row, i);
        }

        _writer.WriteEndObject();
        _writer.Flush();
    }
}
