using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace BulkExport.Api;

/// <summary>
/// Field-by-field validation of an ExportSchedule in JSON form. Reports every problem, each with the
/// field path and the rule, so one edit fixes a config. The CRD carries the same rules (patterns,
/// enums, minimums, CEL); this is what the exporter and the operator enforce themselves.
/// </summary>
public static partial class ScheduleValidator
{
    public const string RegisterPattern = "^[A-Z][A-Z0-9]{0,31}$";
    public const string EntityNamePattern = "^[A-Za-z][A-Za-z0-9]*$";
    public const string ColumnPattern = "^[A-Za-z_][A-Za-z0-9_]*$";
    public const string TablePattern = "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$";
    public const string DnsLabelPattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
    public const string SecretKeyPattern = "^[-._a-zA-Z0-9]+$";
    public const string BucketPattern = "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$";

    /// <summary>CronJob names are at most 52 characters and the operator appends "-total".</summary>
    public const int MaxNameLength = 46;

    [GeneratedRegex(RegisterPattern)] private static partial Regex RegisterRegex();
    [GeneratedRegex(EntityNamePattern)] private static partial Regex EntityNameRegex();
    [GeneratedRegex(ColumnPattern)] private static partial Regex ColumnRegex();
    [GeneratedRegex(TablePattern)] private static partial Regex TableRegex();
    [GeneratedRegex(DnsLabelPattern)] private static partial Regex DnsLabelRegex();
    [GeneratedRegex(SecretKeyPattern)] private static partial Regex SecretKeyRegex();
    [GeneratedRegex(BucketPattern)] private static partial Regex BucketRegex();

    public static IReadOnlyList<ValidationError> Validate(JsonNode? root)
    {
        var v = new Walker();
        if (root is not JsonObject doc)
        {
            v.Error("(document)", "must be a mapping with apiVersion, kind, metadata and spec");
            return v.Errors;
        }

        v.Known(doc, "", "apiVersion", "kind", "metadata", "spec", "status");
        v.String(doc, "", "apiVersion", required: true, oneOf: [ExportSchedule.ApiVersionV1Alpha1]);
        v.String(doc, "", "kind", required: true, oneOf: [ExportSchedule.KindName]);

        if (v.Object(doc, "", "metadata", required: true) is { } meta)
        {
            var name = v.String(meta, "metadata", "name", required: true, pattern: DnsLabelRegex(), patternText: DnsLabelPattern);
            if (name is { Length: > MaxNameLength })
            {
                v.Error("metadata.name", $"must be at most {MaxNameLength} characters (the CronJob '{name}-total' must fit in 52)");
            }
        }

        if (v.Object(doc, "", "spec", required: true) is { } spec)
        {
            ValidateSpec(v, spec);
        }

        return v.Errors;
    }

    private static void ValidateSpec(Walker v, JsonObject spec)
    {
        const string p = "spec";
        v.Known(spec, p, "register", "version", "timeZone", "total", "delta", "suspend", "missedRuns", "source", "entities", "output", "storage", "retention", "exporter", "jobs", "signing");
        v.String(spec, p, "register", required: true, pattern: RegisterRegex(), patternText: RegisterPattern);
        v.Integer(spec, p, "version", required: false, min: 1, max: 999);
        var tz = v.String(spec, p, "timeZone", required: false);
        if (tz is not null && !Schedules.TryFindTimeZone(tz, out _, out var tzError))
        {
            v.Error("spec.timeZone", tzError!);
        }

        foreach (var kind in new[] { "total", "delta" })
        {
            if (v.Object(spec, p, kind, required: true) is { } s)
            {
                v.Known(s, $"{p}.{kind}", "schedule");
                var cron = v.String(s, $"{p}.{kind}", "schedule", required: true);
                if (cron is not null && !Schedules.TryParseCron(cron, out _, out var cronError))
                {
                    v.Error($"{p}.{kind}.schedule", cronError!);
                }
            }
        }

        v.Bool(spec, p, "suspend", required: false);
        if (v.String(spec, p, "missedRuns", required: false, oneOf: MissedRunPolicy.All) is not null
            && spec["jobs"]?["startingDeadlineSeconds"] is not null)
        {
            // Both decide the CronJobs' startingDeadlineSeconds; which one wins would be a guess.
            v.Error("spec.missedRuns", "set either spec.missedRuns or spec.jobs.startingDeadlineSeconds, not both");
        }

        var sourceKind = ValidateSource(v, spec);
        var geometries = ValidateEntities(v, spec, sourceKind);
        ValidateOutput(v, spec, geometries);
        ValidateStorage(v, spec);
        ValidateSigning(v, spec);

        if (v.Object(spec, p, "retention", required: false) is { } retention)
        {
            v.Known(retention, "spec.retention", "deltas", "totals", "orphans");
            foreach (var field in new[] { "deltas", "totals", "orphans" })
            {
                var text = v.String(retention, "spec.retention", field, required: false);
                if (text is not null && !GoDuration.TryParse(text, out _))
                {
                    v.Error($"spec.retention.{field}", $"'{text}' is not a duration; use hours, minutes or seconds such as 336h or 1h30m");
                }
                else if (text is not null && GoDuration.Parse(text) <= TimeSpan.Zero)
                {
                    v.Error($"spec.retention.{field}", "must be greater than zero");
                }
            }
        }

        if (v.Object(spec, p, "exporter", required: false) is { } exporter)
        {
            v.Known(exporter, "spec.exporter", "image", "imagePullPolicy", "resources", "serviceAccountName");
            v.String(exporter, "spec.exporter", "image", required: false);
            v.String(exporter, "spec.exporter", "imagePullPolicy", required: false, oneOf: ["Always", "IfNotPresent", "Never"]);
            v.String(exporter, "spec.exporter", "serviceAccountName", required: false, pattern: DnsLabelRegex(), patternText: DnsLabelPattern);
            if (v.Object(exporter, "spec.exporter", "resources", required: false) is { } resources)
            {
                v.Known(resources, "spec.exporter.resources", "limits", "requests");
                foreach (var part in new[] { "limits", "requests" })
                {
                    if (v.Object(resources, "spec.exporter.resources", part, required: false) is { } list)
                    {
                        foreach (var (name, value) in list)
                        {
                            var text = value?.GetValueKind() is JsonValueKind.Number or JsonValueKind.String ? value.ToString() : null;
                            if (text is null || !Regex.IsMatch(text, "^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))
                            {
                                v.Error($"spec.exporter.resources.{part}.{name}", "must be a Kubernetes quantity such as 500m or 1Gi");
                            }
                        }
                    }
                }
            }
        }

        if (v.Object(spec, p, "jobs", required: false) is { } jobs)
        {
            const string jp = "spec.jobs";
            v.Known(jobs, jp, "startingDeadlineSeconds", "backoffLimit", "activeDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "ttlSecondsAfterFinished");
            v.Integer(jobs, jp, "startingDeadlineSeconds", required: false, min: 10, max: int.MaxValue);
            v.Integer(jobs, jp, "backoffLimit", required: false, min: 0, max: 100);
            v.Integer(jobs, jp, "activeDeadlineSeconds", required: false, min: 1, max: int.MaxValue);
            v.Integer(jobs, jp, "successfulJobsHistoryLimit", required: false, min: 0, max: 100);
            v.Integer(jobs, jp, "failedJobsHistoryLimit", required: false, min: 0, max: 100);
            v.Integer(jobs, jp, "ttlSecondsAfterFinished", required: false, min: 0, max: int.MaxValue);
        }
    }

    private static string? ValidateSource(Walker v, JsonObject spec)
    {
        if (v.Object(spec, "spec", "source", required: true) is not { } source)
        {
            return null;
        }

        const string p = "spec.source";
        v.Known(source, p, "postgres", "files");
        var present = new[] { "postgres", "files" }.Where(k => source[k] is not null).ToList();
        if (present.Count != 1)
        {
            v.Error(p, present.Count == 0
                ? "exactly one of postgres or files is required"
                : "exactly one of postgres or files is allowed, found both");
            return null;
        }

        if (v.Object(source, p, "postgres", required: false) is { } pg)
        {
            v.Known(pg, $"{p}.postgres", "connectionSecretRef", "parallelism");
            v.Integer(pg, $"{p}.postgres", "parallelism", required: false, min: 1, max: 16);
            if (v.Object(pg, $"{p}.postgres", "connectionSecretRef", required: true) is { } secret)
            {
                v.Known(secret, $"{p}.postgres.connectionSecretRef", "name", "key");
                v.String(secret, $"{p}.postgres.connectionSecretRef", "name", required: true, pattern: DnsLabelRegex(), patternText: DnsLabelPattern);
                v.String(secret, $"{p}.postgres.connectionSecretRef", "key", required: false, pattern: SecretKeyRegex(), patternText: SecretKeyPattern);
            }

            return "postgres";
        }

        if (v.Object(source, p, "files", required: false) is { } files)
        {
            v.Known(files, $"{p}.files", "path", "claimName");
            v.String(files, $"{p}.files", "path", required: true);
            v.String(files, $"{p}.files", "claimName", required: false, pattern: DnsLabelRegex(), patternText: DnsLabelPattern);
            return "files";
        }

        return null;
    }

    private static EntityGeometries ValidateEntities(Walker v, JsonObject spec, string? sourceKind)
    {
        var geometryEntities = 0;
        var withoutGeometry = new List<int>();
        if (v.Array(spec, "spec", "entities", required: true) is not { } entities)
        {
            return new EntityGeometries(geometryEntities, withoutGeometry);
        }

        if (entities.Count == 0)
        {
            v.Error("spec.entities", "must list at least one entity");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < entities.Count; i++)
        {
            var p = $"spec.entities[{i}]";
            if (entities[i] is not JsonObject e)
            {
                v.Error(p, "must be a mapping with name, table or query, and key");
                continue;
            }

            v.Known(e, p, "name", "table", "query", "key", "temporal", "geometry", "formats", "columns", "changeDetection");
            var name = v.String(e, p, "name", required: true, pattern: EntityNameRegex(), patternText: EntityNamePattern);
            if (name is not null && !seen.Add(name))
            {
                v.Error($"{p}.name", $"'{name}' is used by another entity (names must be unique, ignoring case, since they name folders)");
            }

            var table = v.String(e, p, "table", required: false, pattern: TableRegex(), patternText: TablePattern);
            var query = v.String(e, p, "query", required: false);
            if (table is not null && query is not null)
            {
                v.Error(p, "exactly one of table or query is allowed, found both");
            }
            else if (sourceKind == "postgres" && table is null && query is null && e["table"] is null && e["query"] is null)
            {
                v.Error(p, "exactly one of table or query is required for a postgres source");
            }

            if (sourceKind == "files" && query is not null)
            {
                v.Error($"{p}.query", "not supported with spec.source.files (the file source reads {Entity}.jsonl or {Entity}.csv); remove it");
            }

            var columns = new List<(string Path, string Column)>();
            if (v.Array(e, p, "key", required: true) is { } key)
            {
                if (key.Count == 0)
                {
                    v.Error($"{p}.key", "required: list at least one key column");
                }

                for (var k = 0; k < key.Count; k++)
                {
                    if (key[k]?.GetValueKind() != JsonValueKind.String || !ColumnRegex().IsMatch((string)key[k]!))
                    {
                        v.Error($"{p}.key[{k}]", $"must be a column name matching {ColumnPattern}");
                    }
                    else
                    {
                        columns.Add(($"{p}.key[{k}]", (string)key[k]!));
                    }
                }

                if (columns.Select(c => c.Column).Distinct(StringComparer.Ordinal).Count() != columns.Count)
                {
                    v.Error($"{p}.key", "lists a column twice");
                }
            }

            if (v.Object(e, p, "temporal", required: false) is { } temporal)
            {
                string[] fields = ["registrationFrom", "registrationTo", "effectiveFrom", "effectiveTo"];
                v.Known(temporal, $"{p}.temporal", fields);
                var temporalColumns = new List<string>();
                foreach (var f in fields)
                {
                    if (v.String(temporal, $"{p}.temporal", f, required: true, pattern: ColumnRegex(), patternText: ColumnPattern) is { } c)
                    {
                        temporalColumns.Add(c);
                    }
                }

                if (temporalColumns.Distinct(StringComparer.Ordinal).Count() != temporalColumns.Count)
                {
                    v.Error($"{p}.temporal", "the four temporal columns must be different columns");
                }

                foreach (var (path, column) in columns.Where(c => temporalColumns.Contains(c.Column)))
                {
                    v.Error(path, $"'{column}' is a temporal column; the key names the entity's identity (the exporter adds the registration and effect start to it)");
                }
            }

            var hasGeometry = false;
            if (v.Object(e, p, "geometry", required: false) is { } geometry)
            {
                v.Known(geometry, $"{p}.geometry", "column", "epsg");
                v.String(geometry, $"{p}.geometry", "column", required: true, pattern: ColumnRegex(), patternText: ColumnPattern);
                if (v.Integer(geometry, $"{p}.geometry", "epsg", required: false, min: 1, max: int.MaxValue) is { } epsg && !SupportedCrs.Codes.Contains((int)epsg))
                {
                    v.Error($"{p}.geometry.epsg", $"EPSG:{epsg} is not one the exporter has a definition for (it records the CRS inside GPKG, GML and PARQUET files and does not reproject); use one of {string.Join(", ", SupportedCrs.Codes)}");
                }

                geometryEntities++;
                hasGeometry = true;
            }
            else
            {
                withoutGeometry.Add(i);
            }

            ValidateColumnTypes(v, e, p, sourceKind);
            ValidateChangeDetection(v, e, p, sourceKind);
            ValidateEntityFormats(v, spec, e, p, hasGeometry);
        }

        return new EntityGeometries(geometryEntities, withoutGeometry);
    }

    /// <summary>entities[].changeDetection: xmin only where the exporter can read a table's row versions (a postgres table, not temporal).</summary>
    private static void ValidateChangeDetection(Walker v, JsonObject e, string p, string? sourceKind)
    {
        var field = $"{p}.changeDetection";
        if (e["changeDetection"] is null)
        {
            return;
        }

        if (e["changeDetection"]?.GetValueKind() != JsonValueKind.String || !ChangeDetectionModes.Names.Contains((string)e["changeDetection"]!))
        {
            v.Error(field, $"must be one of {string.Join(", ", ChangeDetectionModes.Names)}");
            return;
        }

        if ((string)e["changeDetection"]! != ChangeDetectionModes.Xmin)
        {
            return;
        }

        if (sourceKind == "files")
        {
            v.Error(field, "xmin is not supported with spec.source.files (files have no row versions); remove it or use compare");
        }
        else if (e["query"] is not null)
        {
            v.Error(field, "xmin needs a table entity (a query's rows have no row versions the exporter can trust); use compare");
        }

        if (e["temporal"] is not null)
        {
            v.Error(field, "xmin is not supported for temporal entities (their state holds rows by registration time); use compare");
        }
    }

    /// <summary>entities[].columns: a files-source CSV's declared column types, each a known type, none on a column another field types.</summary>
    private static void ValidateColumnTypes(Walker v, JsonObject e, string p, string? sourceKind)
    {
        if (v.Object(e, p, "columns", required: false) is not { } columns)
        {
            return;
        }

        if (sourceKind == "postgres")
        {
            v.Error($"{p}.columns", "only for spec.source.files (a postgres source's types are the table's); remove it");
            return;
        }

        var typedElsewhere = new Dictionary<string, string>(StringComparer.Ordinal);
        if (e["geometry"] is JsonObject geometry && geometry["column"]?.GetValueKind() == JsonValueKind.String)
        {
            typedElsewhere[(string)geometry["column"]!] = "the geometry column";
        }

        if (e["temporal"] is JsonObject temporal)
        {
            foreach (var (_, node) in temporal)
            {
                if (node?.GetValueKind() == JsonValueKind.String)
                {
                    typedElsewhere[(string)node!] = "a temporal column (always timestamptz)";
                }
            }
        }

        foreach (var (column, node) in columns)
        {
            var path = $"{p}.columns.{column}";
            if (!ColumnRegex().IsMatch(column))
            {
                v.Error(path, $"'{column}' is not a column name matching {ColumnPattern}");
            }
            else if (node?.GetValueKind() != JsonValueKind.String || !FileColumnTypes.TryParse((string)node!, out _, out _, out _))
            {
                v.Error(path, $"must be one of {string.Join(", ", FileColumnTypes.Names)} or numeric(p,s) with 1 <= p <= 38 and 0 <= s <= p, got {(node is null ? "null" : node.ToJsonString())}");
            }
            else if (typedElsewhere.TryGetValue(column, out var what))
            {
                v.Error(path, $"'{column}' is {what}; its type comes from there, remove it here");
            }
        }
    }

    private static void ValidateEntityFormats(Walker v, JsonObject spec, JsonObject e, string p, bool hasGeometry)
    {
        v.EnumList(e, p, "formats", OutputFormats.All);
        if (e["formats"] is not JsonArray formats)
        {
            return;
        }

        var output = spec["output"] is JsonObject o && o["formats"] is JsonArray listed
            ? listed.Where(f => f?.GetValueKind() == JsonValueKind.String).Select(f => (string)f!).ToList()
            : [.. new OutputSpec().Formats];
        for (var i = 0; i < formats.Count; i++)
        {
            if (formats[i]?.GetValueKind() != JsonValueKind.String || (string)formats[i]! is not { } format || !OutputFormats.All.Contains(format))
            {
                continue;
            }

            if (!output.Contains(format))
            {
                v.Error($"{p}.formats[{i}]", $"{format} is not in spec.output.formats ({string.Join(", ", output)}); an entity's formats are a subset of the schedule's");
            }
            else if (!hasGeometry && OutputFormats.NeedGeometry.Contains(format))
            {
                v.Error($"{p}.formats[{i}]", $"{format} needs a geometry, and this entity has none ({p}.geometry.column)");
            }
        }
    }

    /// <param name="With">Entities that declare a geometry column.</param>
    /// <param name="Without">Indexes (in spec.entities) of those that do not.</param>
    private sealed record EntityGeometries(int With, List<int> Without);

    private static void ValidateOutput(Walker v, JsonObject spec, EntityGeometries geometries)
    {
        if (v.Object(spec, "spec", "output", required: false) is not { } output)
        {
            return;
        }

        const string p = "spec.output";
        v.Known(output, p, "formats", "typesOfData", "maxUncompressedBytes", "maxRecordsPerFile", "compressionLevel", "parquetCompression");
        v.String(output, p, "parquetCompression", required: false, oneOf: ParquetCompression.All);
        v.EnumList(output, p, "formats", OutputFormats.All);
        v.EnumList(output, p, "typesOfData", TypesOfData.All);
        if (output["formats"] is JsonArray formats)
        {
            // Each format's rule is declared with it (OutputFormats.Rules); this only applies them.
            for (var i = 0; i < formats.Count; i++)
            {
                if (formats[i]?.GetValueKind() != JsonValueKind.String || OutputFormats.Rules.FirstOrDefault(r => r.Name == (string)formats[i]!) is not { } rule)
                {
                    continue;
                }

                if (rule.Geometry == GeometryRule.SkipEntitiesWithout && geometries.With == 0)
                {
                    v.Error($"{p}.formats[{i}]", $"{rule.Name} needs at least one entity with a geometry (spec.entities[].geometry.column)");
                }
                else if (rule.Geometry == GeometryRule.EveryEntity)
                {
                    foreach (var entity in geometries.Without)
                    {
                        v.Error($"spec.entities[{entity}].geometry.column", $"required by output format {rule.Name} (spec.output.formats[{i}])");
                    }
                }
            }
        }

        if (v.Quantity(output, p, "maxUncompressedBytes") is { } max && max < 1024)
        {
            v.Error($"{p}.maxUncompressedBytes", "must be at least 1Ki");
        }

        v.Integer(output, p, "maxRecordsPerFile", required: false, min: 1, max: long.MaxValue);
        v.Integer(output, p, "compressionLevel", required: false, min: 1, max: 9);
    }

    private static void ValidateSigning(Walker v, JsonObject spec)
    {
        if (v.Object(spec, "spec", "signing", required: false) is not { } signing)
        {
            return;
        }

        const string p = "spec.signing";
        v.Known(signing, p, "keyFile", "nextPublicKeyFile", "secretRef");
        var keyFile = v.String(signing, p, "keyFile", required: false);
        var nextFile = v.String(signing, p, "nextPublicKeyFile", required: false);
        var hasSecret = signing["secretRef"] is not null;
        if ((signing["keyFile"] is not null) == hasSecret)
        {
            v.Error(p, hasSecret
                ? "exactly one of keyFile or secretRef is allowed, found both"
                : "exactly one of keyFile (a PEM file, outside a cluster) or secretRef (a Secret, in a cluster) is required");
        }

        foreach (var (field, text) in new[] { ("keyFile", keyFile), ("nextPublicKeyFile", nextFile) })
        {
            if (text is { Length: 0 })
            {
                v.Error($"{p}.{field}", "must not be empty");
            }
        }

        if (nextFile is not null && hasSecret)
        {
            v.Error($"{p}.nextPublicKeyFile", "not used with secretRef; put the next public key in the Secret and name it in secretRef.nextPublicKeyKey");
        }

        if (v.Object(signing, p, "secretRef", required: false) is { } secret)
        {
            const string sp = p + ".secretRef";
            v.Known(secret, sp, "name", "key", "nextPublicKeyKey");
            v.String(secret, sp, "name", required: true, pattern: DnsLabelRegex(), patternText: DnsLabelPattern);
            var key = v.String(secret, sp, "key", required: false, pattern: SecretKeyRegex(), patternText: SecretKeyPattern) ?? new SigningSecretRef().Key;
            var next = v.String(secret, sp, "nextPublicKeyKey", required: false, pattern: SecretKeyRegex(), patternText: SecretKeyPattern);
            if (next is not null && next == key)
            {
                v.Error($"{sp}.nextPublicKeyKey", $"'{next}' is the signing key's own entry; name the entry holding the next public key");
            }
        }
    }

    private static void ValidateStorage(Walker v, JsonObject spec)
    {
        if (v.Object(spec, "spec", "storage", required: true) is not { } storage)
        {
            return;
        }

        const string p = "spec.storage";
        v.Known(storage, p, "s3", "local");
        var present = new[] { "s3", "local" }.Where(k => storage[k] is not null).ToList();
        if (present.Count != 1)
        {
            v.Error(p, present.Count == 0 ? "exactly one of s3 or local is required" : "exactly one of s3 or local is allowed, found both");
            return;
        }

        if (v.Object(storage, p, "s3", required: false) is { } s3)
        {
            const string sp = "spec.storage.s3";
            v.Known(s3, sp, "bucket", "prefix", "region", "endpoint", "forcePathStyle", "credentialsSecretRef", "readCredentialsSecretRef", "compatibility", "partSize", "uploadConcurrency");
            v.String(s3, sp, "bucket", required: true, pattern: BucketRegex(), patternText: BucketPattern);
            var prefix = v.String(s3, sp, "prefix", required: false);
            if (prefix is not null && (prefix.StartsWith('/') || prefix.Contains("..", StringComparison.Ordinal) || prefix.Contains("//", StringComparison.Ordinal)))
            {
                v.Error($"{sp}.prefix", "must be a relative key prefix without '..', '//' or a leading '/'");
            }

            v.String(s3, sp, "region", required: false);
            var endpoint = v.String(s3, sp, "endpoint", required: false);
            if (endpoint is not null && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
            {
                v.Error($"{sp}.endpoint", $"'{endpoint}' must be an absolute http or https URL");
            }

            v.Bool(s3, sp, "forcePathStyle", required: false);
            v.String(s3, sp, "compatibility", required: false, oneOf: S3Compatibility.All);
            if (v.Quantity(s3, sp, "partSize") is { } part && part < 5 * 1024 * 1024)
            {
                v.Error($"{sp}.partSize", "must be at least 5Mi (the S3 minimum part size)");
            }

            v.Integer(s3, sp, "uploadConcurrency", required: false, min: 1, max: 64);
            foreach (var field in (string[])["credentialsSecretRef", "readCredentialsSecretRef"])
            {
                if (v.Object(s3, sp, field, required: false) is { } creds)
                {
                    var cp = $"{sp}.{field}";
                    v.Known(creds, cp, "name", "accessKeyIdKey", "secretAccessKeyKey");
                    v.String(creds, cp, "name", required: true, pattern: DnsLabelRegex(), patternText: DnsLabelPattern);
                    v.String(creds, cp, "accessKeyIdKey", required: false, pattern: SecretKeyRegex(), patternText: SecretKeyPattern);
                    v.String(creds, cp, "secretAccessKeyKey", required: false, pattern: SecretKeyRegex(), patternText: SecretKeyPattern);
                }
            }
        }

        if (v.Object(storage, p, "local", required: false) is { } local)
        {
            v.Known(local, $"{p}.local", "path", "claimName");
            v.String(local, $"{p}.local", "path", required: true);
            v.String(local, $"{p}.local", "claimName", required: false, pattern: DnsLabelRegex(), patternText: DnsLabelPattern);
        }
    }

    /// <summary>Rewrites int-or-string fields to strings so binding to the typed model cannot fail.</summary>
    internal static JsonNode Normalize(JsonNode root)
    {
        if (root["spec"]?["output"] is JsonObject output && output["maxUncompressedBytes"] is JsonValue q && q.GetValueKind() == JsonValueKind.Number)
        {
            output["maxUncompressedBytes"] = q.ToString();
        }

        if (root["spec"]?["storage"]?["s3"] is JsonObject s3 && s3["partSize"] is JsonValue ps && ps.GetValueKind() == JsonValueKind.Number)
        {
            s3["partSize"] = ps.ToString();
        }

        if (root["spec"]?["exporter"]?["resources"] is JsonObject resources)
        {
            foreach (var part in new[] { "limits", "requests" })
            {
                if (resources[part] is JsonObject list)
                {
                    foreach (var name in list.Select(kv => kv.Key).ToList())
                    {
                        list[name] = list[name]!.ToString();
                    }
                }
            }
        }

        // Nulls in YAML ("source:\n  files:") mean "absent"; dropping them keeps defaults in the model.
        RemoveNulls(root);
        return root;
    }

    private static void RemoveNulls(JsonNode node)
    {
        if (node is JsonObject o)
        {
            foreach (var key in o.Where(kv => kv.Value is null).Select(kv => kv.Key).ToList())
            {
                o.Remove(key);
            }

            foreach (var (_, child) in o)
            {
                RemoveNulls(child!);
            }
        }
        else if (node is JsonArray a)
        {
            foreach (var child in a.Where(c => c is not null))
            {
                RemoveNulls(child!);
            }
        }
    }

    private sealed class Walker
    {
        public List<ValidationError> Errors { get; } = [];

        public void Error(string path, string message) => Errors.Add(new ValidationError(path, message));

        private static string Join(string parent, string name) => parent.Length == 0 ? name : $"{parent}.{name}";

        public void Known(JsonObject o, string path, params string[] known)
        {
            foreach (var (key, _) in o)
            {
                if (!known.Contains(key, StringComparer.Ordinal))
                {
                    var hint = known.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
                    Error(Join(path, key), hint is not null
                        ? $"unknown field; did you mean '{hint}'?"
                        : $"unknown field (allowed: {string.Join(", ", known)})");
                }
            }
        }

        public JsonObject? Object(JsonObject o, string path, string name, bool required)
        {
            var node = o[name];
            if (node is null)
            {
                if (required)
                {
                    Error(Join(path, name), "required");
                }

                return null;
            }

            if (node is JsonObject obj)
            {
                return obj;
            }

            Error(Join(path, name), $"must be a mapping, got {Describe(node)}");
            return null;
        }

        public JsonArray? Array(JsonObject o, string path, string name, bool required)
        {
            var node = o[name];
            if (node is null)
            {
                if (required)
                {
                    Error(Join(path, name), "required");
                }

                return null;
            }

            if (node is JsonArray arr)
            {
                return arr;
            }

            Error(Join(path, name), $"must be a list, got {Describe(node)}");
            return null;
        }

        public string? String(JsonObject o, string path, string name, bool required, Regex? pattern = null, string? patternText = null, IReadOnlyList<string>? oneOf = null)
        {
            var node = o[name];
            var p = Join(path, name);
            if (node is null)
            {
                if (required)
                {
                    Error(p, "required");
                }

                return null;
            }

            if (node.GetValueKind() != JsonValueKind.String)
            {
                Error(p, $"must be a string, got {Describe(node)}");
                return null;
            }

            var text = (string)node!;
            if (required && text.Length == 0)
            {
                Error(p, "required (empty)");
                return null;
            }

            if (oneOf is not null && !oneOf.Contains(text, StringComparer.Ordinal))
            {
                Error(p, $"'{text}' is not one of: {string.Join(", ", oneOf)}");
                return null;
            }

            if (pattern is not null && !pattern.IsMatch(text))
            {
                Error(p, $"'{text}' does not match {patternText}");
                return null;
            }

            return text;
        }

        public long? Integer(JsonObject o, string path, string name, bool required, long min, long max)
        {
            var node = o[name];
            var p = Join(path, name);
            if (node is null)
            {
                if (required)
                {
                    Error(p, "required");
                }

                return null;
            }

            if (node.GetValueKind() != JsonValueKind.Number || !long.TryParse(node.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                Error(p, $"must be a whole number, got {Describe(node)}");
                return null;
            }

            if (value < min || value > max)
            {
                Error(p, max == long.MaxValue || max == int.MaxValue ? $"must be at least {min}, got {value}" : $"must be between {min} and {max}, got {value}");
                return null;
            }

            return value;
        }

        public bool? Bool(JsonObject o, string path, string name, bool required)
        {
            var node = o[name];
            if (node is null)
            {
                if (required)
                {
                    Error(Join(path, name), "required");
                }

                return null;
            }

            if (node.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
            {
                Error(Join(path, name), $"must be true or false, got {Describe(node)}");
                return null;
            }

            return (bool)node;
        }

        public long? Quantity(JsonObject o, string path, string name)
        {
            var node = o[name];
            if (node is null)
            {
                return null;
            }

            var text = node.GetValueKind() is JsonValueKind.String or JsonValueKind.Number ? node.ToString() : null;
            if (text is null || !Api.Quantity.TryParse(text, out var bytes))
            {
                Error(Join(path, name), $"must be a byte quantity such as 1Gi, 500Mi or 1000000, got {Describe(node)}");
                return null;
            }

            return bytes;
        }

        public void EnumList(JsonObject o, string path, string name, IReadOnlyList<string> allowed)
        {
            if (Array(o, path, name, required: false) is not { } list)
            {
                return;
            }

            var p = Join(path, name);
            if (list.Count == 0)
            {
                Error(p, $"must list at least one of: {string.Join(", ", allowed)}");
            }

            var seen = new HashSet<string>();
            for (var i = 0; i < list.Count; i++)
            {
                var item = list[i];
                if (item?.GetValueKind() != JsonValueKind.String || !allowed.Contains((string)item!, StringComparer.Ordinal))
                {
                    var hint = item?.GetValueKind() == JsonValueKind.String
                        ? allowed.FirstOrDefault(a => string.Equals(a, (string)item!, StringComparison.OrdinalIgnoreCase))
                        : null;
                    Error($"{p}[{i}]", $"{Describe(item)} is not one of: {string.Join(", ", allowed)}" + (hint is null ? "" : $" (did you mean '{hint}'?)"));
                }
                else if (!seen.Add((string)item!))
                {
                    Error($"{p}[{i}]", $"'{(string)item!}' is listed twice");
                }
            }
        }

        private static string Describe(JsonNode? node) => node is null
            ? "null"
            : node.GetValueKind() switch
            {
                JsonValueKind.String => $"'{(string)node!}'",
                JsonValueKind.Object => "a mapping",
                JsonValueKind.Array => "a list",
                _ => node.ToJsonString(),
            };
    }
}
