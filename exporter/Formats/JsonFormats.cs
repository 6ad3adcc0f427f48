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
