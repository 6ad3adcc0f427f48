using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Formats;

/// <summary>Writes column values with a <see cref="Utf8JsonWriter"/>; shared by JSON, JSONL and GEOJSON.</summary>
internal static class JsonValues
{
    /// <summary>
    /// Non-ASCII text stays as UTF-8 (Danish names stay readable and files stay small). The "unsafe"
    /// encoder only matters when JSON is pasted into HTML, which a download file never is.
    /// </summary>
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        // The encoders write one root value per Reset and add separators themselves.
        SkipValidation = true,
    };

    public static JsonEncodedText[] EncodeNames(IReadOnlyList<Column> columns)
    {
        var names = new JsonEncodedText[columns.Count];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = JsonEncodedText.Encode(columns[i].Name, WriterOptions.Encoder);
        }

        return names;
    }

    /// <summary>
    /// Writes column <paramref name="column"/> of a row from its typed getters: text, decimals and JSON go
    /// from their UTF-8 bytes to the output without a UTF-16 string, and so does a geometry's GeoJSON; arrays take the boxed path.
    /// The bytes are those of <see cref="WriteValue(Utf8JsonWriter, Column, ColumnKind, object?)"/> for the same value.
    /// </summary>
    public static void WriteValue(Utf8JsonWriter writer, IRowView row, int column)
    {
        var col = row.Columns[column];
        if (row is ObjectRowView || row.IsNull(column))
        {
            WriteValue(writer, col, col.Kind, row.GetValue(column));
            return;
        }

        switch (col.Kind)
        {
            case ColumnKind.Text:
                writer.WriteStringValue(row.GetUtf8(column));
                break;
            case ColumnKind.Integer:
                writer.WriteNumberValue(row.GetInt64(column));
                break;
            case ColumnKind.Decimal:
                var text = row.GetUtf8(column);
                if (ScalarText.IsJsonNumber(text))
                {
                    writer.WriteRawValue(text, skipInputValidation: true);
                }
                else
                {
                    writer.WriteStringValue(text);
                }

                break;
            case ColumnKind.Float:
                if (row is RowBatch.BatchRowView view && view.Batch.TryGetSpelling(view.Row, column, out var kept))
                {
                    // Finite (a non-finite value is not kept): the row digest's spelling, ScalarText's.
                    writer.WriteRawValue(kept, skipInputValidation: true);
                    break;
                }

                var d = row.GetDouble(column);
                if (ScalarText.NonFiniteName(d) is { } nonFinite)
                {
                    writer.WriteStringValue(nonFinite);
                }
                else
                {
                    Span<byte> number = stackalloc byte[ScalarText.MaxScalarBytes];
                    writer.WriteRawValue(number[..ScalarText.FormatDouble(d, number)], skipInputValidation: true);
                }

                break;
            case ColumnKind.Boolean:
                writer.WriteBooleanValue(row.GetBoolean(column));
                break;
            case ColumnKind.Date:
            case ColumnKind.Timestamp:
            case ColumnKind.TimestampTz:
            case ColumnKind.Uuid:
                Span<byte> scalar = stackalloc byte[ScalarText.MaxScalarBytes + 2];
                var written = ScalarText.Format(row, column, scalar[1..]);
                scalar[0] = (byte)'"';
                scalar[written + 1] = (byte)'"';
                writer.WriteRawValue(scalar[..(written + 2)], skipInputValidation: true);
                break;
            case ColumnKind.Json:
                // Validated: one malformed value must not corrupt a whole published file. A value the row digest's
                // reader-less pass accepts (most jsonb text) is well-formed already, cheaper to tell than with a reader.
                var json = row.GetUtf8(column);
                writer.WriteRawValue(json, skipInputValidation: CanonicalJsonFastPath.IsWellFormed(json));
                break;
            case ColumnKind.Bytes:
                writer.WriteBase64StringValue(row.GetBytes(column));
                break;
            case ColumnKind.Array when row.TryGetInt64Array(column, out var integers):
                // What WriteArray writes for the same elements boxed.
                writer.WriteStartArray();
                foreach (var integer in integers)
                {
                    writer.WriteNumberValue(integer);
                }

                writer.WriteEndArray();
                break;
            case ColumnKind.Geometry:
                // Validated like the boxed path: a malformed value (a NaN coordinate) fails rather than corrupts the
                // file; PostGIS's usual shape is validated by GeoJsonShape, cheaper than the writer's JSON reader.
                var valid = GeoJsonShape.TryParse(row, column, out _, out _, out _);
                writer.WriteRawValue(row.GetGeometryUtf8(column).GeoJson, skipInputValidation: valid);
                break;
            default:
                WriteValue(writer, col, col.Kind, row.GetValue(column));
                break;
        }
    }

    /// <summary>A value as the UTF-8 JSON text the JSON formats publish: how formats without an array type (GPKG, PARQUET) store arrays.</summary>
    public static byte[] ToJsonUtf8(Column column, object value)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteValue(writer, column, column.Kind, value);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static void WriteValue(Utf8JsonWriter writer, Column column, ColumnKind kind, object? value)
    {
        if (value is null)
        {
            writer.WriteNullValue();
            return;
        }

        switch (kind)
        {
            case ColumnKind.Text:
                if (value is string s)
                {
                    writer.WriteStringValue(s);
                }
                else
                {
                    throw ScalarText.Mismatch(value, column);
                }

                break;
            case ColumnKind.Integer:
                writer.WriteNumberValue(ScalarText.ToInt64(value, column));
                break;
            case ColumnKind.Decimal:
                var text = ScalarText.DecimalString(value, column);
                if (ScalarText.IsJsonNumber(text))
                {
                    writer.WriteRawValue(text, skipInputValidation: true);
                }
                else
                {
                    // NaN and the infinities of numeric: not JSON numbers.
                    writer.WriteStringValue(text);
                }

                break;
            case ColumnKind.Float:
                var d = ScalarText.ToDouble(value, column);
                var nonFinite = ScalarText.NonFiniteName(d);
                if (nonFinite is not null)
                {
                    writer.WriteStringValue(nonFinite);
                }
                else
                {
                    Span<byte> number = stackalloc byte[ScalarText.MaxScalarBytes];
                    var length = ScalarText.Format(ColumnKind.Float, d, column, number);
                    writer.WriteRawValue(number[..length], skipInputValidation: true);
                }

                break;
            case ColumnKind.Boolean:
                writer.WriteBooleanValue(value is bool b ? b : throw ScalarText.Mismatch(value, column));
                break;
            case ColumnKind.Date:
            case ColumnKind.Timestamp:
            case ColumnKind.TimestampTz:
            case ColumnKind.Uuid:
                // These spellings never need JSON escaping, so the quoted text goes in raw,
                // skipping the writer's escaping scan.
                Span<byte> scalar = stackalloc byte[ScalarText.MaxScalarBytes + 2];
                var written = ScalarText.Format(kind, value, column, scalar[1..]);
                scalar[0] = (byte)'"';
                scalar[written + 1] = (byte)'"';
                writer.WriteRawValue(scalar[..(written + 2)], skipInputValidation: true);
                break;
            case ColumnKind.Json:
                // Validated: one malformed value must not corrupt a whole published file.
                writer.WriteRawValue(value is RawJson raw ? raw.Json : throw ScalarText.Mismatch(value, column));
                break;
            case ColumnKind.Bytes:
                writer.WriteBase64StringValue(value is byte[] bytes ? bytes : throw ScalarText.Mismatch(value, column));
                break;
            case ColumnKind.Geometry:
                writer.WriteRawValue(value is GeometryValue g ? g.GeoJson : throw ScalarText.Mismatch(value, column));
                break;
            case ColumnKind.Array:
                if (value is not object?[] items)
                {
                    throw ScalarText.Mismatch(value, column);
                }

                WriteArray(writer, column, column.ElementKind ?? ColumnKind.Text, items);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    // A nested object?[] is a further dimension of a multi-dimensional array, with the same element kind.
    private static void WriteArray(Utf8JsonWriter writer, Column column, ColumnKind elementKind, object?[] items)
    {
        writer.WriteStartArray();
        foreach (var item in items)
        {
            if (item is object?[] nested && elementKind != ColumnKind.Json)
            {
                WriteArray(writer, column, elementKind, nested);
            }
            else
            {
                WriteValue(writer, column, elementKind, item);
            }
        }

        writer.WriteEndArray();
    }
}
