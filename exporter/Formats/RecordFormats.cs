namespace BulkExport.Exporter.Formats;

/// <summary>The formats by the name the schedule's <c>output.formats</c> uses.</summary>
internal static class RecordFormats
{
    public static readonly IRecordFormat Json = new JsonFormat();
    public static readonly IRecordFormat JsonLines = new JsonLinesFormat();
    public static readonly IRecordFormat Csv = new CsvFormat();
    public static readonly IRecordFormat GeoJson = new GeoJsonFormat();

    public static readonly IReadOnlyList<IRecordFormat> All = [Json, JsonLines, Csv, GeoJson];

    public static IRecordFormat Get(string name) =>
        All.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown output format '{name}'; expected one of {string.Join(", ", All.Select(f => f.Name))}.", nameof(name));
}
