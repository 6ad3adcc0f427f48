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
        new JsonRecordEncoder(schema.Columns, header: "["u8.ToArray(), footer: "\n]\n"u8.ToArray(), geometryColumn: null);

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
/// GeoJSON FeatureCollection: the entity's geometry column (else its first Geometry column) is each
/// feature's geometry (null when it has none), every other column a property. One feature per line,
/// like JSON. Its rule (<see cref="GeometryRule.SkipEntitiesWithout"/>) is declared in <see cref="OutputFormats.Rules"/>.
/// </summary>
internal sealed class GeoJsonFormat : IStreamedFormat
{
    public string Name => "GEOJSON";

    public string Extension => "geojson";

    public IReadOnlyList<CompanionFile> CompanionFiles(FormatSchema schema) => [];

    public IRecordEncoder CreateEncoder(FormatSchema schema)
    {
        var geometry = schema.GeometryOrFirst ?? -1;
        return new JsonRecordEncoder(
            schema.Columns,
            header: "{\"type\":\"FeatureCollection\",\"features\":["u8.ToArray(),
            footer: "\n]}\n"u8.ToArray(),
            geometryColumn: geometry);
    }
}

/// <summary>
/// Rows between a fixed header and footer, separated by ",\n". The footer does not depend on the
/// rows, which the part splitter relies on when it reserves room for it.
/// </summary>
internal sealed class JsonRecordEncoder : IRecordEncoder
{
    private static readonly JsonEncodedText TypeName = JsonEncodedText.Encode("type");
    private static readonly JsonEncodedText FeatureValue = JsonEncodedText.Encode("Feature");
    private static readonly JsonEncodedText GeometryName = JsonEncodedText.Encode("geometry");
    private static readonly JsonEncodedText PropertiesName = JsonEncodedText.Encode("properties");

    private readonly IReadOnlyList<Column> _columns;
    private readonly JsonEncodedText[] _names;
    private readonly byte[] _header;
    private readonly byte[] _footer;
    // Null: plain JSON rows. -1: GeoJSON without a geometry column. Otherwise the geometry's index.
    private readonly int? _geometryColumn;
    private readonly Utf8JsonWriter _writer;
    private bool _first = true;

    public JsonRecordEncoder(IReadOnlyList<Column> columns, byte[] header, byte[] footer, int? geometryColumn)
    {
        _columns = columns;
        _names = JsonValues.EncodeNames(columns);
        _header = header;
        _footer = footer;
        _geometryColumn = geometryColumn;
        _writer = new Utf8JsonWriter(new ArrayBufferWriter<byte>(1), JsonValues.WriterOptions);
    }

    public void WriteHeader(IBufferWriter<byte> output) => output.Write(_header);

    public void WriteRecord(IRowView row, IBufferWriter<byte> output)
    {
        output.Write(_first ? "\n"u8 : ",\n"u8);
        _first = false;
        _writer.Reset(output);
        if (_geometryColumn is { } geometry)
        {
            _writer.WriteStartObject();
            _writer.WriteString(TypeName, FeatureValue);
            _writer.WritePropertyName(GeometryName);
            if (geometry >= 0)
            {
                JsonValues.WriteValue(_writer, row, geometry);
            }
            else
            {
                _writer.WriteNullValue();
            }

            _writer.WritePropertyName(PropertiesName);
            WriteRow(row, skip: geometry);
            _writer.WriteEndObject();
        }
        else
        {
            WriteRow(row, skip: -1);
        }

        _writer.Flush();
    }

    public void WriteFooter(IBufferWriter<byte> output) => output.Write(_footer);

    private void WriteRow(IRowView row, int skip)
    {
        if (row.Columns.Count != _columns.Count)
        {
            throw new ArgumentException($"Row has {row.Columns.Count} values for {_columns.Count} columns.", nameof(row));
        }

        _writer.WriteStartObject();
        for (var i = 0; i < row.Columns.Count; i++)
        {
            if (i == skip)
            {
                continue;
            }

            _writer.WritePropertyName(_names[i]);
            JsonValues.WriteValue(_writer, row, i);
        }

        _writer.WriteEndObject();
    }
}

internal sealed class JsonLinesRecordEncoder(IReadOnlyList<Column> columns) : IRecordEncoder
{
    private readonly JsonEncodedText[] _names = JsonValues.EncodeNames(columns);
    private readonly Utf8JsonWriter _writer = new(new ArrayBufferWriter<byte>(1), JsonValues.WriterOptions);

    public void WriteHeader(IBufferWriter<byte> output)
    {
    }

    public void WriteRecord(IRowView row, IBufferWriter<byte> output)
    {
        if (row.Columns.Count != columns.Count)
        {
            throw new ArgumentException($"Row has {row.Columns.Count} values for {columns.Count} columns.", nameof(row));
        }

        _writer.Reset(output);
        _writer.WriteStartObject();
        for (var i = 0; i < row.Columns.Count; i++)
        {
            _writer.WritePropertyName(_names[i]);
            JsonValues.WriteValue(_writer, row, i);
        }

        _writer.WriteEndObject();
        _writer.Flush();
        output.Write("\n"u8);
    }

    public void WriteFooter(IBufferWriter<byte> output)
    {
    }
}
