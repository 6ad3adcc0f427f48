using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BulkExport.Api;

public sealed record ValidationError(string Path, string Message)
{
    public override string ToString() => $"{Path}: {Message}";
}

/// <summary>A config that cannot be used. Carries every problem found, not just the first.</summary>
public sealed class ScheduleValidationException(string source, IReadOnlyList<ValidationError> errors)
    : Exception($"{source}: {errors.Count} problem(s):{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors))
{
    public IReadOnlyList<ValidationError> Errors { get; } = errors;
}

/// <summary>
/// Reads an ExportSchedule from YAML (a file as <c>kubectl apply</c> takes it) or from the API
/// server's JSON, validates every field and only then binds it to the typed model.
/// </summary>
public static class ScheduleDocument
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        WriteIndented = false,
    };

    private static readonly JsonTypeInfo<ExportSchedule> ScheduleTypeInfo = ApiJsonContext.For<ExportSchedule>(JsonOptions);

    /// <summary>The run summary (the exporter's stdout and termination message) under <see cref="JsonOptions"/>.</summary>
    public static readonly JsonTypeInfo<RunSummary> RunSummaryTypeInfo = ApiJsonContext.For<RunSummary>(JsonOptions);

    public static ExportSchedule LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ScheduleValidationException(path, [new ValidationError("--config", $"cannot read '{path}': {e.Message}")]);
        }

        return LoadYaml(text, path);
    }

    public static ExportSchedule LoadYaml(string yaml, string source = "config")
    {
        JsonNode? node;
        try
        {
            node = SelectScheduleDocument(ParseYaml(yaml), source);
        }
        catch (YamlException e)
        {
            throw new ScheduleValidationException(source, [new ValidationError("(document)", $"not valid YAML at line {e.Start.Line}, column {e.Start.Column}: {e.InnerException?.Message ?? e.Message}")]);
        }

        return FromJson(node, source);
    }

    /// <summary>Validates and binds a schedule already in JSON form (as the API server returns it).</summary>
    public static ExportSchedule FromJson(JsonNode? node, string source = "ExportSchedule")
    {
        var errors = ScheduleValidator.Validate(node);
        if (errors.Count > 0)
        {
            throw new ScheduleValidationException(source, errors);
        }

        return BindValidated(node!);
    }

    /// <summary>Binds a schedule <see cref="ScheduleValidator.Validate"/> found no errors in, without validating it again.</summary>
    public static ExportSchedule BindValidated(JsonNode node)
    {
        var normalized = ScheduleValidator.Normalize(node.DeepClone());
        return normalized.Deserialize(ScheduleTypeInfo)!;
    }

    /// <summary>YAML documents as JSON, with YAML 1.2 core-schema typing of plain scalars.</summary>
    public static List<JsonNode?> ParseYaml(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return [.. stream.Documents.Select(d => ToJson(d.RootNode))];
    }

    private static JsonNode? SelectScheduleDocument(List<JsonNode?> documents, string source)
    {
        var schedules = documents
            .Where(d => d is JsonObject o && (o["kind"] is null || o["kind"]!.GetValueKind() != JsonValueKind.String || (string?)o["kind"] == ExportSchedule.KindName))
            .ToList();
        return schedules.Count switch
        {
            1 => schedules[0],
            0 => throw new ScheduleValidationException(source, [new ValidationError("kind", $"no {ExportSchedule.KindName} document found")]),
            _ => throw new ScheduleValidationException(source, [new ValidationError("kind", $"{schedules.Count} {ExportSchedule.KindName} documents found; the file must hold exactly one")]),
        };
    }

    private static JsonNode? ToJson(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode map:
                var obj = new JsonObject();
                foreach (var (k, v) in map.Children)
                {
                    var key = k is YamlScalarNode s ? s.Value ?? "" : k.ToString();
                    obj[key] = ToJson(v);
                }

                return obj;
            case YamlSequenceNode seq:
                var arr = new JsonArray();
                foreach (var item in seq.Children)
                {
                    arr.Add(ToJson(item));
                }

                return arr;
            case YamlScalarNode scalar:
                return Scalar(scalar);
            default:
                return null;
        }
    }

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any))
        {
            return JsonValue.Create(text);
        }

        switch (text)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }

        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
        {
            return JsonValue.Create(l);
        }

        if (text.Length > 0 && (char.IsDigit(text[0]) || text[0] is '-' or '+' or '.')
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
        {
            return JsonValue.Create(d);
        }

        return JsonValue.Create(text);
    }
}
