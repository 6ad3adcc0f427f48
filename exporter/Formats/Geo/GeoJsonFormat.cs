using System.Buffers;
using System.Text.Json;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Formats.Geo;

/// <summary>
/// GeoJSON FeatureCollection: the entity's geometry column (else its first Geometry column) is each
/// feature's geometry (null when it has none), every other column a property. One feature per line,
/// like JSON. Its rule (<see cref="BulkExport.Api.GeometryRule.SkipEntitiesWithout"/>) is declared in <see cref="BulkExport.Api.OutputFormats.Rules"/>.
/// </summary>
internal sealed class GeoJsonFormat : IStreamedFormat
{
    public string Name => "GEOJSON";

    public string Extension => "geojson";

    public IReadOnlyList<CompanionFile> CompanionFiles(FormatSchema schema) => [];

    public IRecordEncoder CreateEncoder(FormatSchema schema) => new GeoJsonFeatureEncoder(schema.Columns, schema.GeometryOrFirst ?? -1);
}

/// <summary>
/// <c>{"type":"Feature","geometry":G,"properties":{…}}</c> per row, between the collection's header and
/// footer, separated by <c>",\n"</c>. The envelope is fixed bytes and a geometry in PostGIS's shape
/// (<see cref="GeoJsonShape"/>, valid JSON) is copied as it is; only the properties object goes through
/// the JSON writer. Those were a quarter of the encoder's time through <see cref="Utf8JsonWriter"/>'s
/// per-token state, for bytes that never change (bench/README.md, "GeoJSON after geo9").
/// </summary>
internal sealed class GeoJsonFeatureEncoder : IRecordEncoder
{
    private readonly IReadOnlyList<Column> _columns;
    private readonly JsonEncodedText[] _names;
    // -1: no geometry column, every feature's geometry is null.
    private readonly int _geometry;
    private readonly Utf8JsonWriter _writer = new(new ArrayBufferWriter<byte>(1), JsonValues.WriterOptions);
    private bool _first = true;

    public GeoJsonFeatureEncoder(IReadOnlyList<Column> columns, int geometry)
    {
        _columns = columns;
        _names = JsonValues.EncodeNames(columns);
        _geometry = geometry;
    }

    private static ReadOnlySpan<byte> FirstFeature => "\n{\"type\":\"Feature\",\"geometry\":"u8;

    private static ReadOnlySpan<byte> NextFeature => ",\n{\"type\":\"Feature\",\"geometry\":"u8;

    public void WriteHeader(IBufferWriter<byte> output) => output.Write("{\"type\":\"FeatureCollection\",\"features\":["u8);

    public void WriteFooter(IBufferWriter<byte> output) => output.Write("\n]}\n"u8);

    public void WriteRecord(IRowView row, IBufferWriter<byte> output)
    {
        if (row.Columns.Count != _columns.Count)
        {
            throw new ArgumentException($"Row has {row.Columns.Count} values for {_columns.Count} columns.", nameof(row));
        }

        output.Write(_first ? FirstFeature : NextFeature);
        _first = false;
        WriteGeometry(row, output);
        output.Write(",\"properties\":"u8);
        _writer.Reset(output);
        _writer.WriteStartObject();
        for (var i = 0; i < _columns.Count; i++)
        {
            if (i == _geometry)
            {
                continue;
            }

            _writer.WritePropertyName(_names[i]);
            JsonValues.WriteValue(_writer, row, i);
        }

        _writer.WriteEndObject();
        _writer.Flush();
        output.Write("}"u8);
    }

    private void WriteGeometry(IRowView row, IBufferWriter<byte> output)
    {
        if (_geometry < 0)
        {
            output.Write("null"u8);
            return;
        }

        if (row is not ObjectRowView && !row.IsNull(_geometry))
        {
            // The row digest recognised the same value before (memo in the batch): no second scan.
            if (GeoJsonShape.TryParse(row, _geometry, out _, out _, out _))
            {
                output.Write(row.GetGeometryUtf8(_geometry).GeoJson);
                return;
            }
        }

        // NULL, a boxed row, or another shape: the JSON writer, which validates what it embeds.
        _writer.Reset(output);
        JsonValues.WriteValue(_writer, row, _geometry);
        _writer.Flush();
    }
}
