using BulkExport.Api;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// The formats by the name <c>spec.output.formats</c> uses. A format plugs in by being registered
/// here (<see cref="Register"/>); nothing else in the pipeline names a format.
/// </summary>
internal sealed class OutputFormatRegistry
{
    private readonly Dictionary<string, IOutputFormat> _formats = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<IOutputFormat> _ordered = [];

    /// <summary>Every format this build ships.</summary>
    public static OutputFormatRegistry Default { get; } = new OutputFormatRegistry()
        .Register(RecordFormats.Json)
        .Register(RecordFormats.JsonLines)
        .Register(RecordFormats.Csv)
        .Register(RecordFormats.GeoJson)
        // Prototypes: the pipeline asks each for the entity's instance (IEntityConfiguredFormat).
        .Register(new GeoPackageFormat(new Geo.EntityGeometry("", null, null, []), DateTimeOffset.UnixEpoch))
        .Register(new GmlFormat(new Geo.EntityGeometry("", null, null, [])))
        .Register(new ParquetFormat(new Geo.EntityGeometry("", null, null, []), Api.ParquetCompression.Zstd));

    public IReadOnlyList<IOutputFormat> All => _ordered;

    public OutputFormatRegistry Register(IOutputFormat format)
    {
        if (format is not (IStreamedFormat or IFileFormat))
        {
            throw new ArgumentException($"Format '{format.Name}' must be an {nameof(IStreamedFormat)} or an {nameof(IFileFormat)}.", nameof(format));
        }

        if (!OutputFormats.All.Contains(format.Name, StringComparer.Ordinal))
        {
            // The validator accepts only declared names; a format it does not know could never be asked for.
            throw new ArgumentException($"Format '{format.Name}' is not declared in {nameof(OutputFormats)}.{nameof(OutputFormats.Rules)}.", nameof(format));
        }

        if (!_formats.TryAdd(format.Name, format))
        {
            throw new ArgumentException($"Format '{format.Name}' is registered twice.", nameof(format));
        }

        _ordered.Add(format);
        return this;
    }

    public IOutputFormat Get(string name) =>
        _formats.TryGetValue(name, out var format)
            ? format
            : throw new ArgumentException($"Unknown output format '{name}'; expected one of {string.Join(", ", _ordered.Select(f => f.Name))}.", nameof(name));
}

/// <summary>The built-in formats.</summary>
internal static class RecordFormats
{
    public static readonly IStreamedFormat Json = new JsonFormat();
    public static readonly IStreamedFormat JsonLines = new JsonLinesFormat();
    public static readonly IStreamedFormat Csv = new CsvFormat();
    public static readonly IStreamedFormat GeoJson = new Geo.GeoJsonFormat();

    public static IReadOnlyList<IOutputFormat> All => OutputFormatRegistry.Default.All;

    public static IOutputFormat Get(string name) => OutputFormatRegistry.Default.Get(name);
}
