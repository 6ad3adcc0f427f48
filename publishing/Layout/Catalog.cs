using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using BulkExport.Publishing.Retention;
using BulkExport.Publishing.Signing;

namespace BulkExport.Publishing.Layout;

/// <summary>
/// <c>{REG}/catalog.json</c>: every live file, as the rows of Datafordeleren's
/// GetAvailableFileDownloads plus what a mirror needs to check its copy (key, size, SHA-256, records,
/// base generation, parts). Rebuilt from the committed manifests; never lists a file retention deletes.
/// </summary>
internal sealed class Catalog
{
    public int SchemaVersion { get; set; } = 1;
    public string Register { get; set; } = "";
    public long? LatestGeneration { get; set; }
    public DateTimeOffset? LatestPointInTime { get; set; }
    public DateTimeOffset GeneratedAt { get; set; }
    public List<CatalogRow> Files { get; set; } = [];
    /// <summary>The next signing key, as in the newest manifest (see <see cref="GenerationManifest.NextSigningKey"/>).</summary>
    public SigningJwk? NextSigningKey { get; set; }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static Catalog Build(string register, IReadOnlyList<LiveFile> live, GenerationManifest? latest, DateTimeOffset now) => new()
    {
        Register = register,
        LatestGeneration = latest?.Generation,
        LatestPointInTime = latest?.PointInTime,
        GeneratedAt = now,
        Files = [.. live
            .Select(l => CatalogRow.From(l.Manifest, l.File))
            .OrderBy(r => r.EntityName, StringComparer.Ordinal)
            .ThenBy(r => r.TypeOfDownload, StringComparer.Ordinal)
            .ThenBy(r => r.ContainedFileFormat, StringComparer.Ordinal)
            .ThenBy(r => r.TypeOfData, StringComparer.Ordinal)
            .ThenBy(r => r.GenerationNumber)
            .ThenBy(r => r.Part)],
    };

    private static readonly JsonTypeInfo<Catalog> TypeInfo = PublishingJsonContext.For<Catalog>(Json);

    /// <summary>The catalog's rows as <c>list --json</c> prints them.</summary>
    public static readonly JsonTypeInfo<List<CatalogRow>> RowsTypeInfo = PublishingJsonContext.For<List<CatalogRow>>(Json);

    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, TypeInfo);

    public static Catalog FromBytes(byte[] bytes, string where)
    {
        try
        {
            return JsonSerializer.Deserialize(bytes, TypeInfo) ?? throw new InvalidDataException($"{where}: empty catalog");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{where}: not a valid catalog: {e.Message}", e);
        }
    }
}

internal sealed class CatalogRow
{
    public string Filename { get; set; } = "";
    public string Register { get; set; } = "";
    public string EntityName { get; set; } = "";
    public string Frequency { get; set; } = "";
    public string TypeOfDownload { get; set; } = "";
    public string TypeOfData { get; set; } = "";
    public int Version { get; set; }
    public long GenerationNumber { get; set; }
    public DateTimeOffset PointInTime { get; set; }
    public DateTimeOffset GenerationTime { get; set; }
    public DateTimeOffset ExpirationDate { get; set; }
    public string ContainedFileFormat { get; set; } = "";
    public string OutputFileFormat { get; set; } = "ZIP";
    public string Key { get; set; } = "";
    public long SizeBytes { get; set; }
    public string Sha256 { get; set; } = "";
    public long RecordCount { get; set; }
    public long? BaseGenerationNumber { get; set; }
    public long ContainedGenerationNumber { get; set; }
    public string ContainedFileName { get; set; } = "";
    public int Part { get; set; }
    public int PartCount { get; set; }
    /// <summary>Fingerprint of the <see cref="RecordCount"/> records in this file (README, "Content fingerprints").</summary>
    public string? Fingerprint { get; set; }
    /// <summary>Deltas only: true when the delta holds the entity's whole state (replace your copy instead of applying it).</summary>
    public bool? Rebase { get; set; }

    public static CatalogRow From(GenerationManifest manifest, ManifestFile file) => new()
    {
        Filename = file.FileName,
        Register = manifest.Register,
        EntityName = file.EntityName,
        Frequency = file.TypeOfDownload == FileNaming.TotalDownload ? manifest.TotalFrequency : manifest.DeltaFrequency,
        TypeOfDownload = file.TypeOfDownload,
        TypeOfData = file.TypeOfData,
        Version = manifest.Version,
        GenerationNumber = manifest.Generation,
        PointInTime = manifest.PointInTime,
        GenerationTime = manifest.GenerationTime,
        ExpirationDate = file.ExpirationDate,
        ContainedFileFormat = file.Format,
        Key = file.Key,
        SizeBytes = file.SizeBytes,
        Sha256 = file.Sha256,
        RecordCount = file.RecordCount,
        BaseGenerationNumber = file.TypeOfDownload == FileNaming.DeltaDownload ? manifest.BaseGeneration : null,
        ContainedGenerationNumber = file.ContainedGenerationNumber,
        ContainedFileName = file.ContainedFileName,
        Part = file.Part,
        PartCount = file.PartCount,
        Fingerprint = file.Fingerprint,
        Rebase = file.TypeOfDownload == FileNaming.DeltaDownload && manifest.Entities.Any(e => e.Name == file.EntityName && e.Rebase == true) ? true : null,
    };
}
