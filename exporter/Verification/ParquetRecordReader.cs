using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using BulkExport.Publishing.Verification;
using Parquet;
using Parquet.Schema;

namespace BulkExport.Exporter.Verification;

/// <summary>
/// PARQUET: rebuilds each row's JSON object from the file through Parquet.Net's reader, row group by
/// row group (memory is one row group's columns), typed by the Parquet schema: INT64 a number, DOUBLE
/// the shortest round-trip text (non-finite values as strings), BOOLEAN, DATE <c>yyyy-MM-dd</c>,
/// TIMESTAMP the JSON formats' ISO spelling (<c>Z</c> when adjusted to UTC), DECIMAL(p,s) its digits
/// with the scale, BYTE_ARRAY base64, or GeoJSON for a column the GeoParquet <c>geo</c> key lists as
/// WKB (in its CRS's EPSG code), and strings as strings unless <see cref="RecordSource.Types"/> says
/// JSON, array or decimal.
/// </summary>
internal sealed class ParquetRecordReader : IPublishedRecordReader
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    public IReadOnlyList<string> Formats { get; } = ["PARQUET"];

    public string RecordsLabel => "row(s)";

    public bool UsesColumnTypes => true;

    public bool SpellsCrs => true;

    public string Caveat => "the exporter's PARQUET holds microsecond timestamps (a finer fraction is truncated), so such a value reads back unlike the JSON formats' spelling";

    public async IAsyncEnumerable<PublishedRecord> ReadAsync(RecordSource source, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var file = source.Row.ContainedFileName;
        var temp = Path.Combine(Path.GetTempPath(), $"bulkexport-verify-{Guid.NewGuid():N}.parquet");
        try
        {
            await using (var input = PublishedRecordReaders.DataEntry(source).Open())
            await using (var output = File.Create(temp))
            {
                await input.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
            }

            await using var stream = File.OpenRead(temp);
            ParquetReader reader;
            try
            {
                reader = await ParquetReader.CreateAsync(stream, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or InvalidOperationException or ArgumentException)
            {
                throw new InvalidDataException($"{file}: not a readable Parquet file: {e.Message}", e);
            }

            await using (reader.ConfigureAwait(false))
            {
                var fields = reader.Schema.GetDataFields();
                if (fields.Length != reader.Schema.Fields.Count || fields.Any(f => f.IsArray))
                {
                    throw new InvalidDataException($"{file}: nested or repeated columns; the exporter writes flat ones");
                }

                var geometry = GeoColumns(reader.CustomMetadata, file);
                source.UntypedColumns.UnionWith(fields.Where(f => (Nullable.GetUnderlyingType(f.ClrType) ?? f.ClrType) is var t && (t == typeof(string) || t == typeof(ReadOnlyMemory<char>)) && source.Types?.For(f.Name) is null).Select(f => f.Name));
                long row = 0;
                var buffer = new ArrayBufferWriter<byte>(512);
                for (var group = 0; group < reader.RowGroupCount; group++)
                {
                    var columns = new Array[fields.Length];
                    long count;
                    using (var groupReader = reader.OpenRowGroupReader(group))
                    {
                        count = groupReader.RowCount;
                        for (var i = 0; i < fields.Length; i++)
                        {
                            columns[i] = await ReadColumnAsync(groupReader, fields[i], (int)count, file, cancellationToken).ConfigureAwait(false);
                        }
                    }

                    for (var r = 0; r < count; r++)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        row++;
                        buffer.ResetWrittenCount();
                        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
                        {
                            json.WriteStartObject();
                            for (var i = 0; i < fields.Length; i++)
                            {
                                var field = fields[i];
                                json.WritePropertyName(field.Name);
                                try
                                {
                                    WriteValue(json, field, columns[i].GetValue(r), geometry, source.Types?.For(field.Name), source.CrsMember);
                                }
                                catch (FormatException e)
                                {
                                    throw new InvalidDataException($"{file}: row {row}: column '{field.Name}' ({field.ClrType.Name}): {e.Message}", e);
                                }
                            }

                            json.WriteEndObject();
                        }

                        yield return new PublishedRecord(row, buffer.WrittenSpan.ToArray());
                    }
                }
            }
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static async Task<Array> ReadColumnAsync(ParquetRowGroupReader group, DataField field, int count, string file, CancellationToken cancellationToken)
    {
        try
        {
            var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
            // Parquet.Net 6 reports a text column's CLR type as ReadOnlyMemory<char> and a binary one's as ReadOnlyMemory<byte>.
            if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>))
            {
                var values = new string?[count];
                await group.ReadAsync(field, values.AsMemory(), null, cancellationToken).ConfigureAwait(false);
                return values;
            }

            if (type == typeof(byte[]) || type == typeof(ReadOnlyMemory<byte>))
            {
                var values = new byte[]?[count];
                await group.ReadAsync(field, values.AsMemory(), null, cancellationToken).ConfigureAwait(false);
                return values;
            }

            return type switch
            {
                _ when type == typeof(long) => await ReadStructAsync<long>(group, field, count, cancellationToken).ConfigureAwait(false),
                _ when type == typeof(int) => await ReadStructAsync<int>(group, field, count, cancellationToken).ConfigureAwait(false),
                _ when type == typeof(double) => await ReadStructAsync<double>(group, field, count, cancellationToken).ConfigureAwait(false),
                _ when type == typeof(bool) => await ReadStructAsync<bool>(group, field, count, cancellationToken).ConfigureAwait(false),
                _ when type == typeof(DateOnly) => await ReadStructAsync<DateOnly>(group, field, count, cancellationToken).ConfigureAwait(false),
                _ when type == typeof(DateTime) => await ReadStructAsync<DateTime>(group, field, count, cancellationToken).ConfigureAwait(false),
                _ when type == typeof(decimal) => await ReadStructAsync<decimal>(group, field, count, cancellationToken).ConfigureAwait(false),
                _ => throw new InvalidDataException($"{file}: column '{field.Name}' has type {type.Name}, not one the exporter writes"),
            };
        }
        catch (Exception e) when (e is IOException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new InvalidDataException($"{file}: column '{field.Name}' cannot be read: {e.Message}", e);
        }
    }

    private static async Task<Array> ReadStructAsync<T>(ParquetRowGroupReader group, DataField field, int count, CancellationToken cancellationToken)
        where T : struct
    {
        var values = new T?[count];
        await group.ReadAsync(field, values.AsMemory(), null, cancellationToken).ConfigureAwait(false);
        return values;
    }

    /// <summary>The WKB columns of the GeoParquet <c>geo</c> key and their EPSG codes (a missing crs is OGC:CRS84, a null one unknown).</summary>
    private static Dictionary<string, int?> GeoColumns(IReadOnlyDictionary<string, string>? metadata, string file)
    {
        var columns = new Dictionary<string, int?>(StringComparer.Ordinal);
        if (metadata?.GetValueOrDefault("geo") is not { } geo)
        {
            return columns;
        }

        try
        {
            using var document = JsonDocument.Parse(geo);
            foreach (var column in document.RootElement.GetProperty("columns").EnumerateObject())
            {
                if (column.Value.GetProperty("encoding").GetString() != "WKB")
                {
                    throw new InvalidDataException($"{file}: geo column '{column.Name}' is not WKB-encoded");
                }

                int? srid = 4326;
                if (column.Value.TryGetProperty("crs", out var crs))
                {
                    srid = crs.ValueKind == JsonValueKind.Null ? null
                        : crs.TryGetProperty("id", out var id) && id.GetProperty("authority").GetString() == "EPSG" ? id.GetProperty("code").GetInt32()
                        : throw new InvalidDataException($"{file}: geo column '{column.Name}' has a CRS without an EPSG id");
                }

                columns[column.Name] = srid;
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"{file}: the geo metadata is not GeoParquet: {e.Message}", e);
        }

        return columns;
    }

    private static void WriteValue(Utf8JsonWriter json, DataField field, object? value, Dictionary<string, int?> geometry, CsvRecordReader.DdlColumn? column, bool crsMember)
    {
        switch (value)
        {
            case null:
                json.WriteNullValue();
                break;
            case long l:
                json.WriteRawValue(l.ToString(CultureInfo.InvariantCulture), skipInputValidation: true);
                break;
            case int i:
                json.WriteRawValue(i.ToString(CultureInfo.InvariantCulture), skipInputValidation: true);
                break;
            case double d:
                if (double.IsFinite(d))
                {
                    json.WriteRawValue(d.ToString("R", CultureInfo.InvariantCulture), skipInputValidation: true);
                }
                else
                {
                    json.WriteStringValue(double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
                }

                break;
            case bool b:
                json.WriteBooleanValue(b);
                break;
            case DateOnly date:
                json.WriteStringValue(date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
                break;
            case DateTime day when field is DateTimeDataField { DateTimeFormat: DateTimeFormat.Date }:
                // Parquet.Net reads a DATE column as DateTime.
                json.WriteStringValue(day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
                break;
            case DateTime time:
                var utc = field is DateTimeDataField { IsAdjustedToUTC: true, DateTimeFormat: DateTimeFormat.Timestamp };
                json.WriteStringValue(time.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture) + (utc ? "Z" : ""));
                break;
            case decimal m:
                json.WriteRawValue(m.ToString(CultureInfo.InvariantCulture), skipInputValidation: true);
                break;
            case byte[] bytes when geometry.TryGetValue(field.Name, out var srid):
                WkbToGeoJson.Write(bytes, crsMember ? srid : null, json);
                break;
            case byte[] bytes:
                json.WriteBase64StringValue(bytes);
                break;
            case string text:
                ColumnTypes.WriteText(json, column, text);
                break;
            default:
                throw new FormatException($"a {value.GetType().Name} is not a value the exporter writes");
        }
    }
}
