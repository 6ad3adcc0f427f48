using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using BulkExport.Publishing.Layout;

namespace BulkExport.Server.Registers;

/// <summary>
/// One register's catalog as the service answers from it: parsed once per catalog change, with the
/// indexes every request needs (by file name, newest totals, generations) and the listing already
/// serialized. Immutable; a refresh swaps in a new one.
/// </summary>
internal sealed class RegisterSnapshot
{
    /// <summary>Catalog rows as GetAvailableFileDownloads returns them: every property, ISO 8601 UTC times.</summary>
    public static readonly JsonSerializerOptions RowJson = new(Catalog.Json)
    {
        WriteIndented = false,
        Converters = { new UtcDateTimeOffsetConverter() },
    };

    private readonly Dictionary<string, CatalogRow> _byFilename;
    private readonly Dictionary<TotalGroup, List<CatalogRow>> _newestTotals;

    private RegisterSnapshot(string register, string etag, IReadOnlyList<CatalogRow> rows)
    {
        Register = register;
        ETag = etag;
        Rows = rows;
        _byFilename = rows.GroupBy(r => r.Filename, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        _newestTotals = rows
            .Where(r => r.TypeOfDownload == FileNaming.TotalDownload)
            .GroupBy(r => new TotalGroup(r.Version, r.EntityName, r.TypeOfData, r.ContainedFileFormat))
            .ToDictionary(
                g => g.Key,
                g =>
                {
                    var newest = g.Max(r => r.GenerationNumber);
                    return g.Where(r => r.GenerationNumber == newest).OrderBy(r => r.Part).ToList();
                });
        Generations = [.. rows
            .GroupBy(r => r.GenerationNumber)
            .OrderByDescending(g => g.Key)
            .Select(g => new GenerationFiles(g.Key, g.Max(r => r.GenerationTime), [.. g.OrderBy(r => r.EntityName, StringComparer.Ordinal).ThenBy(r => r.Filename, StringComparer.Ordinal)]))];
        Entities = [.. rows.Select(r => r.EntityName).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        Modified = rows.Count == 0 ? null : rows.Max(r => r.GenerationTime);
        Largest = rows.Count == 0 ? null : rows.MaxBy(r => r.SizeBytes);
        ListingJson = JsonSerializer.SerializeToUtf8Bytes(rows, RowJson);
    }

    public string Register { get; }

    /// <summary>The largest file listed: a presigned URL must last long enough for it.</summary>
    public CatalogRow? Largest { get; }

    /// <summary>The store's ETag of the catalog object this was built from; empty when there is none yet.</summary>
    public string ETag { get; }

    public IReadOnlyList<CatalogRow> Rows { get; }

    /// <summary>Committed generations with live files, newest first.</summary>
    public IReadOnlyList<GenerationFiles> Generations { get; }

    public IReadOnlyList<string> Entities { get; }

    /// <summary>Time of the newest generation; null before the first publish.</summary>
    public DateTimeOffset? Modified { get; }

    /// <summary><see cref="Rows"/> as a JSON array.</summary>
    public byte[] ListingJson { get; }

    public static RegisterSnapshot Empty(string register) => new(register, "", []);

    public static RegisterSnapshot From(string register, string etag, Catalog catalog) => new(register, etag, catalog.Files);

    public CatalogRow? Find(string filename) => _byFilename.GetValueOrDefault(filename);

    /// <summary>The newest total (all its parts) of one entity, type of data and format; the highest version when none is given.</summary>
    public IReadOnlyList<CatalogRow>? NewestTotal(string entity, string typeOfData, string format, int? version)
    {
        var candidates = _newestTotals
            .Where(p => string.Equals(p.Key.Entity, entity, StringComparison.OrdinalIgnoreCase)
                && string.Equals(p.Key.TypeOfData, typeOfData, StringComparison.OrdinalIgnoreCase)
                && string.Equals(p.Key.Format, format, StringComparison.OrdinalIgnoreCase)
                && (version is null || p.Key.Version == version))
            .OrderByDescending(p => p.Key.Version)
            .ToList();
        return candidates.Count == 0 ? null : candidates[0].Value;
    }

    /// <summary>Every newest total of the register (one per entity, type of data and format, in its newest version or the one given).</summary>
    public IReadOnlyList<CatalogRow> NewestTotals(int? version) =>
        [.. _newestTotals
            .Where(p => version is null || p.Key.Version == version)
            .GroupBy(p => (p.Key.Entity, p.Key.TypeOfData, p.Key.Format))
            .Select(g => g.MaxBy(p => p.Key.Version).Value)
            .SelectMany(rows => rows)
            .OrderBy(r => r.EntityName, StringComparer.Ordinal)
            .ThenBy(r => r.TypeOfData, StringComparer.Ordinal)
            .ThenBy(r => r.ContainedFileFormat, StringComparer.Ordinal)
            .ThenBy(r => r.Part)];

    private readonly record struct TotalGroup(int Version, string Entity, string TypeOfData, string Format);
}

/// <summary>The live files of one committed generation.</summary>
internal sealed record GenerationFiles(long Generation, DateTimeOffset GenerationTime, IReadOnlyList<CatalogRow> Files)
{
    public bool HasTotals => Files.Any(f => f.TypeOfDownload == FileNaming.TotalDownload);
}

/// <summary>ISO 8601 in UTC with a <c>Z</c>, as the Datafordeleren guide specifies for every time field.</summary>
internal sealed class UtcDateTimeOffsetConverter : JsonConverter<DateTimeOffset>
{
    public const string Format = "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'";

    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.UtcDateTime.ToString(Format, CultureInfo.InvariantCulture));
}
