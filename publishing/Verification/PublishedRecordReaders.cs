using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BulkExport.Publishing.Layout;

namespace BulkExport.Publishing.Verification;

/// <summary>One record of a published file as the JSON row object the fingerprint is defined on (README, "Canonical row bytes").</summary>
/// <param name="Line">Line of the data file where the record starts (1-based), for messages.</param>
/// <param name="RowJson">UTF-8 JSON of the row object; canonicalised by the caller.</param>
internal readonly record struct PublishedRecord(long Line, byte[] RowJson);

/// <summary>What a reader gets: the opened zip, its catalog row, and what the schedule says about the entity.</summary>
/// <param name="Types">
/// The entity's source column types, for formats whose own types cannot tell every kind apart (a GeoPackage
/// TEXT column may hold text, JSON, an array or a long decimal): a <c>CREATE TABLE</c> companion in the
/// same zip if there is one (<see cref="ColumnTypes.FromZipAsync"/>), else the DDL of a CSV file of the
/// entity in the register; null when neither exists.
/// </param>
/// <param name="CrsMember">
/// Whether a GeoJSON geometry rebuilt from a file that records its CRS (GPKG, GML, PARQUET) carries
/// PostGIS's short <c>crs</c> member for an SRID other than 0 and 4326: PostgreSQL sources publish it
/// (<c>ST_AsGeoJSON</c>), the files source does not. The file cannot tell, so verify tries both, per file.
/// </param>
internal sealed record RecordSource(ZipArchive Zip, CatalogRow Row, string? GeometryColumn, ColumnTypes? Types = null, bool CrsMember = true)
{
    /// <summary>Filled by the reader: the columns whose file type is shared by kinds with different JSON spellings and that <see cref="Types"/> did not type (read as strings, or a REAL decimal without its scale).</summary>
    public SortedSet<string> UntypedColumns { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Rebuilds the JSON row objects of one published format from the file itself, so that verify can
/// recompute the fingerprint of every file, whatever its format. Readers are looked up by format name
/// (<see cref="CatalogRow.ContainedFileFormat"/>); a new format plugs in with <see cref="PublishedRecordReaders.With"/>.
/// </summary>
internal interface IPublishedRecordReader
{
    /// <summary>The format name as catalog rows spell it: JSON, JSONL, CSV, GEOJSON, …</summary>
    IReadOnlyList<string> Formats { get; }

    /// <summary>What <see cref="PublishedRecord.Line"/> numbers, as messages list them: <c>line(s)</c>, <c>feature(s) at line</c>, <c>row(s)</c>.</summary>
    string RecordsLabel => "line(s)";

    /// <summary>Whether the reader needs the entity's <see cref="RecordSource.Types"/> to tell its text columns apart.</summary>
    bool UsesColumnTypes => false;

    /// <summary>Whether the reader honours <see cref="RecordSource.CrsMember"/> (its files record the CRS beside the geometry).</summary>
    bool SpellsCrs => false;

    /// <summary>What the format cannot hold exactly, said with every fingerprint mismatch of its files; null if nothing.</summary>
    string? Caveat => null;

    /// <summary>The records in file order; throws <see cref="InvalidDataException"/> naming file, line and column for a record that breaks the format.</summary>
    IAsyncEnumerable<PublishedRecord> ReadAsync(RecordSource source, CancellationToken cancellationToken);
}

/// <summary>The per-format dispatcher.</summary>
internal sealed class PublishedRecordReaders
{
    private readonly Dictionary<string, IPublishedRecordReader> _byFormat;

    private PublishedRecordReaders(Dictionary<string, IPublishedRecordReader> byFormat) => _byFormat = byFormat;

    /// <summary>JSON, JSONL, CSV (typed by the zip's DDL companion), GEOJSON and GML (typed by the zip's XSD); GPKG and PARQUET readers need SQLite and Parquet.Net and are added by the exporter.</summary>
    public static PublishedRecordReaders Default { get; } = new PublishedRecordReaders(new Dictionary<string, IPublishedRecordReader>(StringComparer.OrdinalIgnoreCase))
        .With(new JsonRecordReader())
        .With(new CsvRecordReader())
        .With(new GeoJsonRecordReader())
        .With(new GmlRecordReader());

    /// <summary>A copy with <paramref name="reader"/> for its formats (replacing a reader of the same format).</summary>
    public PublishedRecordReaders With(IPublishedRecordReader reader)
    {
        var copy = new Dictionary<string, IPublishedRecordReader>(_byFormat, StringComparer.OrdinalIgnoreCase);
        foreach (var format in reader.Formats)
        {
            copy[format] = reader;
        }

        return new PublishedRecordReaders(copy);
    }

    public IPublishedRecordReader? For(string format) => _byFormat.GetValueOrDefault(format);

    /// <summary>The data file of a catalog row inside its zip.</summary>
    public static ZipArchiveEntry DataEntry(RecordSource source) =>
        source.Zip.GetEntry(source.Row.ContainedFileName) ?? throw new InvalidDataException($"{source.Row.Key}: the zip does not contain {source.Row.ContainedFileName}");

    /// <summary>The lines of a text entry with their 1-based numbers, CR LF or LF.</summary>
    public static async IAsyncEnumerable<(long Line, string Text)> LinesAsync(ZipArchiveEntry entry, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(entry.Open(), new UTF8Encoding(false, throwOnInvalidBytes: true));
        long line = 0;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } text)
        {
            yield return (++line, text);
        }
    }
}

/// <summary>JSON and JSONL: one row object per line (the JSON format writes its array one row per line).</summary>
internal sealed class JsonRecordReader : IPublishedRecordReader
{
    public IReadOnlyList<string> Formats { get; } = ["JSON", "JSONL"];

    public async IAsyncEnumerable<PublishedRecord> ReadAsync(RecordSource source, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var (line, raw) in PublishedRecordReaders.LinesAsync(PublishedRecordReaders.DataEntry(source), cancellationToken).ConfigureAwait(false))
        {
            var text = raw.AsSpan().Trim();
            if (text.EndsWith(','))
            {
                text = text[..^1];
            }

            if (text.IsEmpty || text is "[" or "]")
            {
                continue;
            }

            yield return new PublishedRecord(line, Encoding.UTF8.GetBytes(text.ToString()));
        }
    }
}

/// <summary>
/// GEOJSON: one Feature per line. The row is the feature's properties plus its geometry under the
/// entity's geometry column, whose name the file does not carry: it comes from the schedule
/// (<c>spec.entities[].geometry.column</c>) or a CSV DDL of the same entity. Without a name, a
/// feature's geometry must be null (an entity without geometry column).
/// </summary>
internal sealed class GeoJsonRecordReader : IPublishedRecordReader
{
    public IReadOnlyList<string> Formats { get; } = ["GEOJSON"];

    public async IAsyncEnumerable<PublishedRecord> ReadAsync(RecordSource source, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var file = source.Row.ContainedFileName;
        await foreach (var (line, raw) in PublishedRecordReaders.LinesAsync(PublishedRecordReaders.DataEntry(source), cancellationToken).ConfigureAwait(false))
        {
            var text = raw.AsSpan().Trim();
            if (text.EndsWith(','))
            {
                text = text[..^1];
            }

            if (text.IsEmpty || text is "]}" || (line == 1 && text.StartsWith("{\"type\":\"FeatureCollection\"", StringComparison.Ordinal)))
            {
                continue;
            }

            JsonObject feature;
            try
            {
                feature = JsonNode.Parse(text.ToString())?.AsObject() ?? throw new InvalidDataException("null");
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or InvalidDataException)
            {
                throw new InvalidDataException($"{file}:{line}: not a GeoJSON Feature: {e.Message}", e);
            }

            if (feature["properties"] is not JsonObject properties || feature["type"]?.GetValueKind() != JsonValueKind.String || feature["type"]!.GetValue<string>() != "Feature")
            {
                throw new InvalidDataException($"{file}:{line}: not a GeoJSON Feature with properties");
            }

            var geometry = feature["geometry"];
            feature.Remove("properties");
            feature.Remove("geometry");
            if (source.GeometryColumn is { } name)
            {
                if (properties.ContainsKey(name))
                {
                    throw new InvalidDataException($"{file}:{line}: property '{name}' is also the geometry column");
                }

                properties[name] = geometry;
            }
            else if (geometry is not null)
            {
                throw new InvalidDataException($"{file}:{line}: the feature has a geometry, but the entity's geometry column is not known; set spec.entities[].geometry.column");
            }

            yield return new PublishedRecord(line, Encoding.UTF8.GetBytes(properties.ToJsonString()));
        }
    }
}
