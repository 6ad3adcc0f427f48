using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using BulkExport.Publishing.Signing;

namespace BulkExport.Publishing.Layout;

/// <summary>
/// The commit record of one generation (<c>{REG}/generations/{gen:D10}.json</c>): every file it
/// published, with sizes, checksums and record counts, and the base generation its deltas follow.
/// Immutable once committed; the catalog is rebuilt from these.
/// </summary>
internal sealed class GenerationManifest
{
    public int SchemaVersion { get; set; } = 1;
    public string Register { get; set; } = "";
    public int Version { get; set; }
    public long Generation { get; set; }
    /// <summary>The last committed generation before this one; null for the first.</summary>
    public long? BaseGeneration { get; set; }
    /// <summary><c>total</c> or <c>delta</c>.</summary>
    public string Run { get; set; } = "";
    public DateTimeOffset PointInTime { get; set; }
    public DateTimeOffset? BasePointInTime { get; set; }
    public DateTimeOffset GenerationTime { get; set; }
    public string? Job { get; set; }
    public string TotalFrequency { get; set; } = "";
    public string DeltaFrequency { get; set; } = "";
    public List<ManifestEntity> Entities { get; set; } = [];
    public List<ManifestFile> Files { get; set; } = [];
    /// <summary>
    /// With signing configured and a rotation prepared: the public key that will sign after the
    /// current one. Covered by the current key's signature, so trusting the current key means trusting it.
    /// </summary>
    public SigningJwk? NextSigningKey { get; set; }

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private static readonly JsonTypeInfo<GenerationManifest> TypeInfo = PublishingJsonContext.For<GenerationManifest>(Json);

    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, TypeInfo);

    public static GenerationManifest FromBytes(ReadOnlySpan<byte> bytes, string key)
    {
        try
        {
            return JsonSerializer.Deserialize(bytes, TypeInfo)
                ?? throw new InvalidDataException($"{key}: empty manifest");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{key}: not a valid generation manifest: {e.Message}", e);
        }
    }
}

internal sealed class ManifestEntity
{
    public string Name { get; set; } = "";
    public bool Temporal { get; set; }
    /// <summary>Rows of the entity in this generation's snapshot.</summary>
    public long Records { get; set; }
    /// <summary>Identity + row-hash state of the entity, the base of the next generation's delta.</summary>
    public StateFile? State { get; set; }
    /// <summary>What consumers upsert and delete on: the key, plus registration and effect start for temporal entities.</summary>
    public List<string>? Identity { get; set; }
    /// <summary>
    /// Fingerprint of the entity's full state in this generation in the delta's type of data
    /// (Bitemporal for temporal entities, Current for plain ones); <see cref="Records"/> rows.
    /// </summary>
    public string? Fingerprint { get; set; }
    /// <summary>True when this generation's delta holds the whole state as inserts (the base had no usable state).</summary>
    public bool? Rebase { get; set; }
}

internal sealed class StateFile
{
    public string Key { get; set; } = "";
    public long SizeBytes { get; set; }
    public string Sha256 { get; set; } = "";
    public long Records { get; set; }
    /// <summary>Format of the state file (<c>EntityDelta.StateFormat</c>, or <c>WatermarkedStateFormat</c> for changeDetection xmin); 0 for states of older exporters.</summary>
    public int Format { get; set; }
}

internal sealed class ManifestFile
{
    public string Key { get; set; } = "";
    public string FileName { get; set; } = "";
    public string EntityName { get; set; } = "";
    public string TypeOfDownload { get; set; } = "";
    public string TypeOfData { get; set; } = "";
    public string Format { get; set; } = "";
    public string ContainedFileName { get; set; } = "";
    /// <summary>Differs from the generation when an unchanged total was re-issued.</summary>
    public long ContainedGenerationNumber { get; set; }
    public int Part { get; set; } = 1;
    public int PartCount { get; set; } = 1;
    public long SizeBytes { get; set; }
    public string Sha256 { get; set; } = "";
    public long RecordCount { get; set; }
    public long UncompressedBytes { get; set; }
    /// <summary>Identifies the data of the whole group (all parts), independent of the generation number.</summary>
    public string ContentId { get; set; } = "";
    public DateTimeOffset ExpirationDate { get; set; }
    /// <summary>Fingerprint of the records in this file (README, "Content fingerprints").</summary>
    public string? Fingerprint { get; set; }

    public string GroupKey(string register, int version) =>
        $"{register}|{version}|{EntityName}|{TypeOfDownload}|{TypeOfData}|{Format}";
}
