using System.Text.Json.Serialization;

namespace BulkExport.Api;

/// <summary>
/// The ExportSchedule custom resource. The same document is what <c>kubectl apply</c> takes and what
/// the exporter reads as its config file, so these types are the one description of the API.
/// </summary>
public sealed class ExportSchedule
{
    public const string Group = "bulkexport.io";
    public const string ApiVersionV1Alpha1 = "bulkexport.io/v1alpha1";
    public const string KindName = "ExportSchedule";
    public const string Plural = "exportschedules";

    public string? ApiVersion { get; set; } = ApiVersionV1Alpha1;
    public string? Kind { get; set; } = KindName;
    public ObjectMeta Metadata { get; set; } = new();
    public ExportScheduleSpec Spec { get; set; } = new();
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ExportScheduleStatus? Status { get; set; }
}

public sealed class ObjectMeta
{
    public string? Name { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Namespace { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Uid { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ResourceVersion { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long Generation { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? CreationTimestamp { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? DeletionTimestamp { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? Labels { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? Annotations { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<OwnerReference>? OwnerReferences { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Finalizers { get; set; }
}

public sealed class OwnerReference
{
    public string ApiVersion { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Name { get; set; } = "";
    public string Uid { get; set; } = "";
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Controller { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? BlockOwnerDeletion { get; set; }
}

public sealed class ExportScheduleSpec
{
    /// <summary>Register code, upper case; the first segment of every stored path.</summary>
    public string Register { get; set; } = "";
    public int Version { get; set; } = 1;
    public string TimeZone { get; set; } = "UTC";
    public CronSchedule Total { get; set; } = new();
    public CronSchedule Delta { get; set; } = new();
    public bool Suspend { get; set; }
    /// <summary>What happens to start times the CronJob controller could not act on in time (<see cref="MissedRunPolicy"/>); <see cref="MissedRunPolicy.RunLatest"/> when absent.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? MissedRuns { get; set; }
    public SourceSpec Source { get; set; } = new();
    public List<EntitySpec> Entities { get; set; } = [];
    public OutputSpec Output { get; set; } = new();
    public StorageSpec Storage { get; set; } = new();
    public RetentionSpec Retention { get; set; } = new();
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ExporterSpec? Exporter { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JobsSpec? Jobs { get; set; }
    /// <summary>Signs every generation manifest and the catalog (detached JWS, ES256); unsigned when absent.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SigningSpec? Signing { get; set; }
}

/// <summary>
/// Where the EC P-256 signing key comes from: a PEM file outside a cluster, or a Secret in one. The
/// optional next public key is announced in every manifest until it takes over (key rotation).
/// </summary>
public sealed class SigningSpec
{
    /// <summary>PEM file with the private key (PKCS#8 or SEC1), read by the exporter.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? KeyFile { get; set; }
    /// <summary>PEM or JWK file with the public key that will replace the current one.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? NextPublicKeyFile { get; set; }
    /// <summary>In a cluster: the Secret holding the private key (and the next public key).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SigningSecretRef? SecretRef { get; set; }
}

public sealed class SigningSecretRef
{
    public string Name { get; set; } = "";
    /// <summary>The Secret's entry with the PEM private key.</summary>
    public string Key { get; set; } = "signing.pem";
    /// <summary>The Secret's entry with the next public key (PEM or JWK), during a rotation.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? NextPublicKeyKey { get; set; }
}

public sealed class CronSchedule
{
    /// <summary>Five-field cron expression, evaluated in <see cref="ExportScheduleSpec.TimeZone"/>.</summary>
    public string Schedule { get; set; } = "";
}

public sealed class SourceSpec
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public PostgresSourceSpec? Postgres { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public FilesSourceSpec? Files { get; set; }
}

public sealed class PostgresSourceSpec
{
    public SecretKeySelector ConnectionSecretRef { get; set; } = new();
    /// <summary>How many entities are read at once; the readers share one exported snapshot.</summary>
    public int Parallelism { get; set; } = 1;
}

public sealed class SecretKeySelector
{
    public string Name { get; set; } = "";
    public string Key { get; set; } = "connectionString";
}

public sealed class FilesSourceSpec
{
    /// <summary>Directory holding one <c>{Entity}.jsonl</c> or <c>{Entity}.csv</c> per entity.</summary>
    public string Path { get; set; } = "";
    /// <summary>In a cluster: the PersistentVolumeClaim mounted at <see cref="Path"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ClaimName { get; set; }
}

public sealed class EntitySpec
{
    public string Name { get; set; } = "";
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Table { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Query { get; set; }
    public List<string> Key { get; set; } = [];
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public TemporalSpec? Temporal { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public GeometrySpec? Geometry { get; set; }
    /// <summary>
    /// The formats this entity is published in, a subset of <c>spec.output.formats</c>; unset: every
    /// output format the entity allows (GEOJSON and GML need a geometry, GPKG at most one).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Formats { get; set; }
    /// <summary>
    /// spec.source.files only: the types of a CSV file's columns by name (one of <see cref="FileColumnTypes"/>),
    /// so integers, decimals, dates and booleans are published as such instead of as text. A column
    /// not named is text; the temporal and geometry columns are typed by their own fields.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? Columns { get; set; }
    /// <summary>
    /// How a delta finds the changed rows of a postgres <c>table</c> entity (one of <see cref="ChangeDetectionModes"/>):
    /// <c>compare</c> (unset) reads every row and compares it with the base state; <c>xmin</c> reads every key but
    /// only the rows written since the base generation's snapshot, falling back to <c>compare</c> whenever that
    /// cannot be proven exact.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ChangeDetection { get; set; }
}

/// <summary>The values of <see cref="EntitySpec.ChangeDetection"/>.</summary>
public static class ChangeDetectionModes
{
    public const string Compare = "compare";
    public const string Xmin = "xmin";

    public static readonly IReadOnlyList<string> Names = [Compare, Xmin];

    /// <summary>Whether the entity asked for the xmin path (unset means compare).</summary>
    public static bool IsXmin(EntitySpec entity) => string.Equals(entity?.ChangeDetection, Xmin, StringComparison.Ordinal);
}

/// <summary>
/// The column types a files-source CSV column can be declared as (<see cref="EntitySpec.Columns"/>), in
/// PostgreSQL's spelling; <c>numeric(p,s)</c> (1 ≤ p ≤ 38, 0 ≤ s ≤ p) fixes precision and scale, which
/// PARQUET then stores as DECIMAL(p,s).
/// </summary>
public static partial class FileColumnTypes
{
    public const string Text = "text";
    public const string Integer = "integer";
    public const string Numeric = "numeric";
    public const string Float = "float";
    public const string Boolean = "boolean";
    public const string Date = "date";
    public const string TimestampTz = "timestamptz";
    public const string Uuid = "uuid";

    public static readonly IReadOnlyList<string> Names = [Text, Integer, Numeric, Float, Boolean, Date, TimestampTz, Uuid];

    /// <summary>A type name, or <c>numeric(p,s)</c> / <c>numeric(p)</c>.</summary>
    public const string Pattern = "^(text|integer|numeric|float|boolean|date|timestamptz|uuid|numeric\\([1-9][0-9]?(,[0-9][0-9]?)?\\))$";

    [System.Text.RegularExpressions.GeneratedRegex(@"^numeric\((?<p>[1-9][0-9]?)(,(?<s>[0-9][0-9]?))?\)$")]
    private static partial System.Text.RegularExpressions.Regex NumericRegex();

    /// <summary>Splits a declared type into its name and, for <c>numeric(p,s)</c>, precision and scale; false when it is not one.</summary>
    public static bool TryParse(string declared, out string name, out int? precision, out int scale)
    {
        precision = null;
        scale = 0;
        name = declared;
        if (Names.Contains(declared))
        {
            return true;
        }

        var m = NumericRegex().Match(declared);
        if (!m.Success)
        {
            return false;
        }

        name = Numeric;
        precision = int.Parse(m.Groups["p"].Value, System.Globalization.CultureInfo.InvariantCulture);
        scale = m.Groups["s"].Success ? int.Parse(m.Groups["s"].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        return precision <= 38 && scale <= precision;
    }
}

public sealed class TemporalSpec
{
    public string RegistrationFrom { get; set; } = "";
    public string RegistrationTo { get; set; } = "";
    public string EffectiveFrom { get; set; } = "";
    public string EffectiveTo { get; set; } = "";
}

public sealed class GeometrySpec
{
    public string Column { get; set; } = "";
    /// <summary>
    /// EPSG code of the geometries' coordinate reference system, one of <see cref="SupportedCrs.Codes"/>;
    /// unset: the SRID the rows carry (EPSG:4326 when they carry none). Recorded in GPKG, GML and PARQUET.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Epsg { get; set; }
}

/// <summary>
/// The coordinate reference systems the exporter can describe inside a GeoPackage, GML or GeoParquet
/// file. Their definitions are built in (the image has no PROJ database), so the list is closed.
/// </summary>
public static class SupportedCrs
{
    public static readonly IReadOnlyList<int> Codes = [25832, 25833, 4258, 4326, 3857, 32632, 32633];
}

public sealed class OutputSpec
{
    public List<string> Formats { get; set; } = [OutputFormats.Json];
    public List<string> TypesOfData { get; set; } = [Api.TypesOfData.Bitemporal, Api.TypesOfData.Temporal, Api.TypesOfData.Current];
    /// <summary>Kubernetes quantity; a data file above it is split into parts.</summary>
    public string MaxUncompressedBytes { get; set; } = "1Gi";
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? MaxRecordsPerFile { get; set; }

    /// <summary>The default zlib level: zlib-ng's level 1 makes the bench's CSV 27% larger than gzip -1, level 2 about 10% smaller at ~1.3× the deflate CPU.</summary>
    public const int DefaultCompressionLevel = 2;

    /// <summary>zlib level of the zips' deflate, 1 (fastest) .. 9 (smallest).</summary>
    public int CompressionLevel { get; set; } = DefaultCompressionLevel;
    /// <summary>Compression codec of PARQUET files' pages: ZSTD (default) or SNAPPY.</summary>
    public string ParquetCompression { get; set; } = Api.ParquetCompression.Zstd;
}

/// <summary>
/// spec.missedRuns: start times missed while the CronJob controller (or the cluster) was down.
/// Either way there is never more than one late run and never the controller's "too many missed
/// start times"; resuming a suspended schedule starts no run at once under both.
/// </summary>
public static class MissedRunPolicy
{
    /// <summary>The latest missed start time runs once, late, if it is less than the schedule's shortest interval old (the default).</summary>
    public const string RunLatest = "RunLatest";

    /// <summary>A start time not acted on within a minute is skipped; the next one runs at its time.</summary>
    public const string Skip = "Skip";

    public static readonly IReadOnlyList<string> All = [RunLatest, Skip];
}

public static class ParquetCompression
{
    public const string Zstd = "ZSTD";
    public const string Snappy = "SNAPPY";
    public static readonly IReadOnlyList<string> All = [Zstd, Snappy];
}

public static class OutputFormats
{
    public const string Json = "JSON";
    public const string JsonLines = "JSONL";
    public const string Csv = "CSV";
    public const string GeoJson = "GEOJSON";
    public const string GeoPackage = "GPKG";
    public const string Gml = "GML";
    public const string Parquet = "PARQUET";

    /// <summary>
    /// Every format with the rule on which entities it takes. Each format declares its rule here, in
    /// the library the operator shares, so the schedule validator names the offending field without
    /// knowing any format; the exporter's format reads its rule back from here.
    /// </summary>
    public static readonly IReadOnlyList<OutputFormatRule> Rules =
    [
        new(Json, GeometryRule.Any),
        new(JsonLines, GeometryRule.Any),
        new(Csv, GeometryRule.Any),
        new(GeoJson, GeometryRule.SkipEntitiesWithout),
        // GPKG: an attributes table without a geometry, a features table with one (two: refused at run time).
        new(GeoPackage, GeometryRule.Any),
        new(Gml, GeometryRule.SkipEntitiesWithout),
        new(Parquet, GeometryRule.Any),
    ];

    public static readonly IReadOnlyList<string> All = [.. Rules.Select(r => r.Name)];

    /// <summary>Formats that only make sense with a geometry (an entity without one does not get them).</summary>
    public static readonly IReadOnlyList<string> NeedGeometry = [.. Rules.Where(r => r.Geometry != GeometryRule.Any).Select(r => r.Name)];

    public static OutputFormatRule Rule(string name) =>
        Rules.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown output format '{name}'.", nameof(name));
}

/// <param name="Name">The name in <c>spec.output.formats</c>.</param>
/// <param name="Geometry">Which entities the format takes, by their geometry.</param>
public sealed record OutputFormatRule(string Name, GeometryRule Geometry);

/// <summary>Which entities a format takes, by whether they declare <c>spec.entities[].geometry.column</c>.</summary>
public enum GeometryRule
{
    /// <summary>Every entity, with or without a geometry.</summary>
    Any,

    /// <summary>Entities without a geometry get no file of this format; the schedule needs at least one with one (error at <c>spec.output.formats[i]</c>).</summary>
    SkipEntitiesWithout,

    /// <summary>Every entity must declare a geometry (error at <c>spec.entities[j].geometry.column</c> for each that does not).</summary>
    EveryEntity,
}

public static class TypesOfData
{
    public const string Bitemporal = "Bitemporal";
    public const string Temporal = "Temporal";
    public const string Current = "Current";
    public static readonly IReadOnlyList<string> All = [Bitemporal, Temporal, Current];
}

public sealed class StorageSpec
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public S3StorageSpec? S3 { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public LocalStorageSpec? Local { get; set; }
}

public sealed class S3StorageSpec
{
    public string Bucket { get; set; } = "";
    public string Prefix { get; set; } = "";
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Region { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Endpoint { get; set; }
    public bool ForcePathStyle { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public S3CredentialsSecretRef? CredentialsSecretRef { get; set; }
    /// <summary>
    /// Read-only access keys for the download service (<c>server --schedule-secrets</c>), which faces
    /// consumers and should not hold the exporter's writing keys; the exporter never uses them.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public S3CredentialsSecretRef? ReadCredentialsSecretRef { get; set; }
    /// <summary>
    /// <c>Standard</c> for AWS S3; <c>Legacy</c> for stores that reject the SDK's default request
    /// checksums or chunked uploads (checksums only when required, no chunk encoding).
    /// </summary>
    public string Compatibility { get; set; } = S3Compatibility.Standard;
    /// <summary>Multipart upload part size (Kubernetes quantity, at least 5Mi).</summary>
    public string PartSize { get; set; } = "16Mi";
    public int UploadConcurrency { get; set; } = 4;
}

public static class S3Compatibility
{
    public const string Standard = "Standard";
    public const string Legacy = "Legacy";
    public static readonly IReadOnlyList<string> All = [Standard, Legacy];
}

public sealed class S3CredentialsSecretRef
{
    public string Name { get; set; } = "";
    public string AccessKeyIdKey { get; set; } = "AWS_ACCESS_KEY_ID";
    public string SecretAccessKeyKey { get; set; } = "AWS_SECRET_ACCESS_KEY";
}

public sealed class LocalStorageSpec
{
    public string Path { get; set; } = "";
    /// <summary>In a cluster: the PersistentVolumeClaim mounted at <see cref="Path"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ClaimName { get; set; }
}

public sealed class RetentionSpec
{
    /// <summary>Go duration: how long a delta stays published.</summary>
    public string Deltas { get; set; } = "336h";
    /// <summary>Go duration: how long a total stays published once a newer total of its group exists.</summary>
    public string Totals { get; set; } = "168h";
    /// <summary>Go duration: files no committed manifest references are deleted once older than this.</summary>
    public string Orphans { get; set; } = "24h";
}

public sealed class ExporterSpec
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Image { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ImagePullPolicy { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ResourceRequirements? Resources { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ServiceAccountName { get; set; }
}

public sealed class ResourceRequirements
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? Limits { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? Requests { get; set; }
}

public sealed class JobsSpec
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? StartingDeadlineSeconds { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? BackoffLimit { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? ActiveDeadlineSeconds { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? SuccessfulJobsHistoryLimit { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? FailedJobsHistoryLimit { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? TtlSecondsAfterFinished { get; set; }
}
