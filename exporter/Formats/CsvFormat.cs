using System.Buffers;
using System.Buffers.Text;
using System.Text;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// RFC 4180 CSV: a header row, CRLF line ends, a field quoted only when it holds a comma, quote, CR or
/// LF. An empty string is written <c>""</c> and null as nothing, which is also how PostgreSQL's
/// <c>COPY … CSV</c> tells them apart, so the file loads into the companion DDL's table unchanged.
/// </summary>
internal sealed class CsvFormat : IStreamedFormat
{
    public string Name => "CSV";

    public string Extension => "csv";

    public IRecordEncoder CreateEncoder(FormatSchema schema) => new CsvRecordEncoder(schema.Columns);

    /// <summary>The <c>CREATE TABLE</c> the file loads into, beside every part.</summary>
    public IReadOnlyList<CompanionFile> CompanionFiles(FormatSchema schema) => [SqlDdl.Companion(schema)];
}

internal sealed class CsvRecordEncoder(IReadOnlyList<Column> columns) : IRecordEncoder
{
    private static readonly SearchValues<byte> NeedsQuoting = SearchValues.Create(",\"\r\n"u8);
    private static readonly SearchValues<char> ArrayElementSpecial = SearchValues.Create("{}\",\\ \t\r\n\v\f");

    // Reused for values built before escaping (array literals).
    private readonly StringBuilder _scratch = new();

    public void WriteHeader(IBufferWriter<byte> output)
    {
        for (var i = 0; i < columns.Count; i++)
        {
            if (i > 0)
            {
                output.Write(","u8);
            }

            WriteField(columns[i].Name, output);
        }

        output.Write("\r\n"u8);
    }

    public void WriteRecord(IRowView row, IBufferWriter<byte> output)
    {
        if (row.Columns.Count != columns.Count)
        {
            throw new ArgumentException($"Row has {row.Columns.Count} values for {columns.Count} columns.", nameof(row));
        }

        // A row's CSV fields do not depend on the file, so a delta record (the row's fields, then its
        // operation) and the total's record of the same row share them: whichever writer comes first
        // keeps them in the row's batch, the other copies them.
        if (row is RowBatch.BatchRowView batchRow && batchRow.Batch.TryGetRecord(batchRow.Row, MemoKey, out var kept))
        {
            output.Write(kept);
            output.Write("\r\n"u8);
            return;
        }

        if (row is IExtendedRowView { Inner: RowBatch.BatchRowView inner } extended)
        {
            _record.ResetWrittenCount();
            WriteFields(inner, inner.Columns.Count, _record);
            inner.Batch.KeepRecord(inner.Row, MemoKey, _record.WrittenSpan);
            output.Write(_record.WrittenSpan);
            output.Write(","u8);
            WriteFields(extended, columns.Count, output, from: inner.Columns.Count);
            output.Write("\r\n"u8);
            return;
        }

        WriteFields(row, row.Columns.Count, output);
        output.Write("\r\n"u8);
    }

    /// <summary>Every CSV encoder keeps and finds records under this one key: their bytes are the same.</summary>
    private static readonly object MemoKey = new();

    private readonly ArrayBufferWriter<byte> _record = new(1024);

    private void WriteFields(IRowView row, int count, IBufferWriter<byte> output, int from = 0)
    {
        // A delta record's row (count short of the operation column) takes the batch path too.
        if (from == 0 && row is RowBatch.BatchRowView view && view.Batch.Columns.Count == count && TryWriteBatchFields(view.Batch, view.Row, output))
        {
            return;
        }

        for (var i = from; i < count; i++)
        {
            if (i > from)
            {
                output.Write(","u8);
            }

            if (row is ObjectRowView boxed)
            {
                if (boxed.GetValue(i) is { } value)
                {
                    WriteValue(columns[i], value, output);
                }
            }
            else if (!row.IsNull(i))
            {
                WriteValue(row, i, output);
            }
        }
    }

    private readonly BatchRowPath _batchPath = new(columns);

    /// <summary>
    /// A batch row's fields straight from the batch's arrays into one span sized for the row: no interface
    /// call per value and one buffer reservation per row instead of two per field. The bytes of the view
    /// path (tests compare them), for the kinds the batch holds unboxed; false, having written nothing, for a
    /// batch of other columns or kinds, or a row with a boxed array.
    /// </summary>
    private bool TryWriteBatchFields(RowBatch batch, int row, IBufferWriter<byte> output)
    {
        if (!_batchPath.Accepts(batch))
        {
            return false;
        }

        var kinds = _batchPath.Kinds.AsSpan(0, batch.Columns.Count);
        // Room for the row: a separator per field, text with every byte a doubled quote and its two quotes,
        // integer array elements at their longest, a scalar at its longest.
        var bound = kinds.Length;
        for (var i = 0; i < kinds.Length; i++)
        {
            if (batch.IsNull(row, i))
            {
                continue;
            }

            switch (kinds[i])
            {
                case ColumnKind.Text or ColumnKind.Decimal or ColumnKind.Json:
                    bound += (batch.BytesAt(row, i).Length * 2) + 2;
                    break;
                case ColumnKind.Array:
                    if (!batch.TryInt64ArrayAt(row, i, out var integers, out _))
                    {
                        return false;
                    }

                    bound += (integers.Length * 21) + 4;
                    break;
                default:
                    bound += ScalarText.MaxScalarBytes;
                    break;
            }
        }

        var span = output.GetSpan(bound);
        var at = 0;
        for (var i = 0; i < kinds.Length; i++)
        {
            if (i > 0)
            {
                span[at++] = (byte)',';
            }

            if (batch.IsNull(row, i))
            {
                continue;
            }

            var kind = kinds[i];
            switch (kind)
            {
                case ColumnKind.Text or ColumnKind.Decimal or ColumnKind.Json:
                    at += WriteField(batch.BytesAt(row, i), span[at..]);
                    break;
                case ColumnKind.Integer:
                    at += ScalarText.FormatInt64(batch.WordAt(row, i), span[at..]);
                    break;
                case ColumnKind.Boolean:
                    var text = batch.WordAt(row, i) != 0 ? "true"u8 : "false"u8;
                    text.CopyTo(span[at..]);
                    at += text.Length;
                    break;
                case ColumnKind.Array:
                    batch.TryInt64ArrayAt(row, i, out var integers, out _);
                    at += WriteInt64ArrayLiteral(integers, span[at..]);
                    break;
                default:
                    at += ScalarText.Format(batch, row, i, kind, span[at..]);
                    break;
            }
        }

        output.Advance(at);
        return true;
    }

    /// <summary>A value from the view's typed getters: text from its UTF-8 bytes, scalars formatted in place; the same bytes as the boxed path.</summary>
    private void WriteValue(IRowView row, int i, IBufferWriter<byte> output)
    {
        var column = columns[i];
        switch (column.Kind)
        {
            case ColumnKind.Text:
            case ColumnKind.Decimal:
            case ColumnKind.Json:
                WriteField(row.GetUtf8(i), output);
                break;
            case ColumnKind.Bytes:
                WriteBytes(row.GetBytes(i), output);
                break;
            case ColumnKind.Geometry:
                WriteField(row.GetGeometryUtf8(i).Wkt, output);
                break;
            case ColumnKind.Array when row.TryGetInt64Array(i, out var integers):
                WriteInt64ArrayLiteral(integers, output);
                break;
            case ColumnKind.Array:
                WriteValue(column, row.GetValue(i)!, output);
                break;
            default:
                var destination = output.GetSpan(ScalarText.MaxScalarBytes);
                output.Advance(ScalarText.Format(row, i, destination));
                break;
        }
    }

    /// <summary>
    /// An integer array's literal, <c>{1,2,3}</c>, as the boxed path writes it: integers need no quoting
    /// as elements, and the field is quoted (for its commas) when it has more than one element.
    /// </summary>
    private static void WriteInt64ArrayLiteral(ReadOnlySpan<long> integers, IBufferWriter<byte> output) =>
        output.Advance(WriteInt64ArrayLiteral(integers, output.GetSpan((integers.Length * 21) + 4)));

    /// <summary>The literal into <paramref name="span"/> (room for 21 bytes per element and 4 more); returns its length.</summary>
    private static int WriteInt64ArrayLiteral(ReadOnlySpan<long> integers, Span<byte> span)
    {
        var quoted = integers.Length > 1;
        var at = 0;
        if (quoted)
        {
            span[at++] = (byte)'"';
        }

        span[at++] = (byte)'{';
        for (var e = 0; e < integers.Length; e++)
        {
            if (e > 0)
            {
                span[at++] = (byte)',';
            }

            at += ScalarText.FormatInt64(integers[e], span[at..]);
        }

        span[at++] = (byte)'}';
        if (quoted)
        {
            span[at++] = (byte)'"';
        }

        return at;
    }

    private static void WriteBytes(ReadOnlySpan<byte> bytes, IBufferWriter<byte> output)
    {
        if (bytes.Length == 0)
        {
            // An empty field is NULL (here and in PostgreSQL's COPY … CSV); no bytes is "".
            output.Write("\"\""u8);
            return;
        }

        var span = output.GetSpan(Base64.GetMaxEncodedToUtf8Length(bytes.Length));
        Base64.EncodeToUtf8(bytes, span, out _, out var encoded);
        output.Advance(encoded);
    }

    /// <summary>UTF-8 text as a CSV field, quoted only when needed; the empty string as <c>""</c>.</summary>
    internal static void WriteField(ReadOnlySpan<byte> utf8, IBufferWriter<byte> output)
    {
        if (utf8.Length == 0)
        {
            output.Write("\"\""u8);
        }
        else if (utf8.IndexOfAny(NeedsQuoting) < 0)
        {
            output.Write(utf8);
        }
        else
        {
            WriteQuoted(utf8, output);
        }
    }

    public void WriteFooter(IBufferWriter<byte> output)
    {
    }


    private void WriteValue(Column column, object value, IBufferWriter<byte> output)
    {
        switch (column.Kind)
        {
            case ColumnKind.Text:
                WriteField(value as string ?? throw ScalarText.Mismatch(value, column), output);
                break;
            case ColumnKind.Decimal:
                WriteField(ScalarText.DecimalString(value, column), output);
                break;
            case ColumnKind.Json:
                WriteField(value is RawJson raw ? raw.Json : throw ScalarText.Mismatch(value, column), output);
                break;
            case ColumnKind.Geometry:
                WriteField(value is GeometryValue g ? g.Wkt : throw ScalarText.Mismatch(value, column), output);
                break;
            case ColumnKind.Bytes:
                WriteBytes(value as byte[] ?? throw ScalarText.Mismatch(value, column), output);
                break;
            case ColumnKind.Array:
                _scratch.Clear();
                AppendArrayLiteral(column, column.ElementKind ?? ColumnKind.Text, value as object?[] ?? throw ScalarText.Mismatch(value, column));
                WriteField(_scratch.ToString(), output);
                break;
            default:
                var destination = output.GetSpan(ScalarText.MaxScalarBytes);
                output.Advance(ScalarText.Format(column.Kind, value, column, destination));
                break;
        }
    }

    /// <summary>Writes a string as a CSV field, quoted only when needed; the empty string as <c>""</c>.</summary>
    internal static void WriteField(string text, IBufferWriter<byte> output)
    {
        if (text.Length == 0)
        {
            output.Write("\"\""u8);
            return;
        }

        // Short strings: encode straight into the output and look for specials in place. Long ones
        // are measured first rather than reserving three bytes per char.
        var max = text.Length <= 8192 ? Encoding.UTF8.GetMaxByteCount(text.Length) : Encoding.UTF8.GetByteCount(text);
        var span = output.GetSpan(max);
        var length = Encoding.UTF8.GetBytes(text, span);
        var encoded = span[..length];
        if (encoded.IndexOfAny(NeedsQuoting) < 0)
        {
            output.Advance(length);
            return;
        }

        var copy = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            encoded.CopyTo(copy);
            WriteQuoted(copy.AsSpan(0, length), output);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    /// <summary>
    /// <see cref="WriteField(ReadOnlySpan{byte}, IBufferWriter{byte})"/> into <paramref name="span"/>, which has
    /// room for twice the text and two quotes; returns the length written.
    /// </summary>
    private static int WriteField(ReadOnlySpan<byte> utf8, Span<byte> span)
    {
        if (utf8.Length == 0)
        {
            span[0] = (byte)'"';
            span[1] = (byte)'"';
            return 2;
        }

        if (utf8.IndexOfAny(NeedsQuoting) < 0)
        {
            utf8.CopyTo(span);
            return utf8.Length;
        }

        return WriteQuoted(utf8, span);
    }

    private static void WriteQuoted(ReadOnlySpan<byte> utf8, IBufferWriter<byte> output)
    {
        var quotes = utf8.Count((byte)'"');
        output.Advance(WriteQuoted(utf8, output.GetSpan(utf8.Length + quotes + 2)));
    }

    private static int WriteQuoted(ReadOnlySpan<byte> utf8, Span<byte> span)
    {
        span[0] = (byte)'"';
        var at = 1;
        while (true)
        {
            var next = utf8.IndexOf((byte)'"');
            if (next < 0)
            {
                utf8.CopyTo(span[at..]);
                at += utf8.Length;
                break;
            }

            utf8[..(next + 1)].CopyTo(span[at..]);
            at += next + 1;
            span[at++] = (byte)'"';
            utf8 = utf8[(next + 1)..];
        }

        span[at++] = (byte)'"';
        return at;
    }

    /// <summary>
    /// PostgreSQL array input syntax, e.g. <c>{1,NULL,"a b"}</c>: elements quoted when empty, when they
    /// hold a delimiter, brace, quote, backslash or white space, or when they would read as NULL.
    /// </summary>
    private void AppendArrayLiteral(Column column, ColumnKind elementKind, object?[] items)
    {
        Span<byte> scalar = stackalloc byte[ScalarText.MaxScalarBytes];
        _scratch.Append('{');
        for (var i = 0; i < items.Length; i++)
        {
            if (i > 0)
            {
                _scratch.Append(',');
            }

            var item = items[i];
            switch (item)
            {
                case null:
                    _scratch.Append("NULL");
                    break;
                case object?[] nested when elementKind != ColumnKind.Json:
                    AppendArrayLiteral(column, elementKind, nested);
                    break;
                default:
                    string text;
                    switch (elementKind)
                    {
                        case ColumnKind.Text:
                            text = item as string ?? throw ScalarText.Mismatch(item, column);
                            break;
                        case ColumnKind.Decimal:
                            text = ScalarText.DecimalString(item, column);
                            break;
                        case ColumnKind.Json:
                            text = item is RawJson raw ? raw.Json : throw ScalarText.Mismatch(item, column);
                            break;
                        case ColumnKind.Geometry:
                            text = item is GeometryValue g ? g.Wkt : throw ScalarText.Mismatch(item, column);
                            break;
                        case ColumnKind.Bytes:
                            text = Convert.ToBase64String(item as byte[] ?? throw ScalarText.Mismatch(item, column));
                            break;
                        default:
                            var written = ScalarText.Format(elementKind, item, column, scalar);
                            text = Encoding.UTF8.GetString(scalar[..written]);
                            break;
                    }

                    AppendArrayElement(text);
                    break;
            }
        }

        _scratch.Append('}');
    }

    private void AppendArrayElement(string text)
    {
        if (text.Length > 0 && text.AsSpan().IndexOfAny(ArrayElementSpecial) < 0 && !text.Equals("NULL", StringComparison.OrdinalIgnoreCase))
        {
            _scratch.Append(text);
            return;
        }

        _scratch.Append('"');
        foreach (var c in text)
        {
            if (c is '"' or '\\')
            {
                _scratch.Append('\\');
            }

            _scratch.Append(c);
        }

        _scratch.Append('"');
    }
}

/// <summary>The CSV's schema as PostgreSQL DDL, so <c>psql -f</c> then <c>\copy … csv header</c> loads it.</summary>
internal static class SqlDdl
{
    /// <summary>
    /// The <c>.sql</c> companion: CSV's DDL, and in GPKG, GML and PARQUET zips too, because their text
    /// types are shared by text, uuids, JSON, arrays and long decimals, whose JSON spellings (and so the
    /// fingerprint) differ; with the source types beside the file, a consumer and <c>verify</c> can type
    /// them back without a CSV file of the entity in the register.
    /// </summary>
    public static CompanionFile Companion(FormatSchema schema) =>
        new("sql", Encoding.UTF8.GetBytes(CreateTable(schema.TableName, schema.Columns, schema.KeyColumns)));

    public static string CreateTable(string tableName, IReadOnlyList<Column> columns, IReadOnlyList<string> keyColumns)
    {
        var sb = new StringBuilder();
        sb.Append("CREATE TABLE ").Append(Quote(tableName)).Append(" (\n");
        for (var i = 0; i < columns.Count; i++)
        {
            var column = columns[i];
            sb.Append("    ").Append(Quote(column.Name)).Append(' ').Append(SqlType(column));
            if (!column.Nullable)
            {
                sb.Append(" NOT NULL");
            }

            if (i < columns.Count - 1 || keyColumns.Count > 0)
            {
                sb.Append(',');
            }

            sb.Append('\n');
        }

        if (keyColumns.Count > 0)
        {
            sb.Append("    PRIMARY KEY (").AppendJoin(", ", keyColumns.Select(Quote)).Append(")\n");
        }

        sb.Append(");\n");
        return sb.ToString();
    }

    public static string SqlType(Column column) =>
        !string.IsNullOrWhiteSpace(column.SqlType)
            ? column.SqlType
            : column.Kind == ColumnKind.Array
                ? KindType(column.ElementKind ?? ColumnKind.Text) + "[]"
                : KindType(column.Kind);

    private static string KindType(ColumnKind kind) => kind switch
    {
        ColumnKind.Text => "text",
        ColumnKind.Integer => "bigint",
        ColumnKind.Decimal => "numeric",
        ColumnKind.Float => "double precision",
        ColumnKind.Boolean => "boolean",
        ColumnKind.Date => "date",
        ColumnKind.Timestamp => "timestamp",
        ColumnKind.TimestampTz => "timestamp with time zone",
        ColumnKind.Uuid => "uuid",
        ColumnKind.Json => "jsonb",
        ColumnKind.Bytes => "bytea",
        ColumnKind.Geometry => "geometry",
        // Nested arrays of arrays are still one-dimensional in the type: PostgreSQL ignores dimensions.
        ColumnKind.Array => "text",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    internal static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
