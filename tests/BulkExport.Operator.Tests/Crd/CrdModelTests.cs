using System.Collections;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using BulkExport.Api;
using BulkExport.Operator.Tests.Support;

namespace BulkExport.Operator.Tests.Crd;

/// <summary>The CRD is written by hand for its descriptions; these tests keep it in step with the C# model.</summary>
public sealed class CrdModelTests
{
    private static readonly JsonObject Crd = (JsonObject)ScheduleDocument.ParseYaml(File.ReadAllText(RepoPaths.Crd))[0]!;
    private static JsonObject Version => (JsonObject)Crd["spec"]!["versions"]![0]!;
    private static JsonObject Schema => (JsonObject)Version["schema"]!["openAPIV3Schema"]!;

    [Fact]
    public void Every_field_of_the_model_is_in_the_crd_schema_with_the_same_type_and_a_description_and_vice_versa()
    {
        var errors = new List<string>();
        CompareObject(typeof(ExportScheduleSpec), (JsonObject)Schema["properties"]!["spec"]!, "spec", errors);
        CompareObject(typeof(ExportScheduleStatus), (JsonObject)Schema["properties"]!["status"]!, "status", errors);
        var rootProps = ((JsonObject)Schema["properties"]!).Select(kv => kv.Key).Order();
        Assert.Equal(["apiVersion", "kind", "metadata", "spec", "status"], rootProps);
        Assert.True(errors.Count == 0, "CRD and model differ:\n" + string.Join("\n", errors));
    }

    [Fact]
    public void A_field_missing_from_the_crd_or_one_the_model_lacks_is_reported()
    {
        var spec = (JsonObject)Schema["properties"]!["spec"]!.DeepClone();
        var props = (JsonObject)spec["properties"]!;
        props.Remove("suspend");
        props["retention"]!["properties"]!.AsObject()["forever"] = new JsonObject { ["type"] = "boolean", ["description"] = "x" };
        props["version"]!["type"] = "string";
        var errors = new List<string>();

        CompareObject(typeof(ExportScheduleSpec), spec, "spec", errors);

        Assert.Contains(errors, e => e.StartsWith("spec.suspend: in the model", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("spec.retention.forever: in the CRD but not in the model", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("spec.version: CRD type is string", StringComparison.Ordinal));
    }

    [Fact]
    public void The_crd_validation_rules_are_the_ones_the_model_validator_enforces()
    {
        var spec = (JsonObject)Schema["properties"]!["spec"]!;
        string? Pattern(params string[] path) => (string?)Walk(spec, path)["pattern"];
        Assert.Equal(ScheduleValidator.RegisterPattern, Pattern("register"));
        Assert.Equal(ScheduleValidator.EntityNamePattern, Pattern("entities", "[]", "name"));
        Assert.Equal(ScheduleValidator.TablePattern, Pattern("entities", "[]", "table"));
        Assert.Equal(ScheduleValidator.ColumnPattern, Pattern("entities", "[]", "key", "[]"));
        Assert.Equal(FileColumnTypes.Pattern, (string?)Walk(spec, "entities", "[]", "columns")["additionalProperties"]!["pattern"]);
        Assert.Equal(ScheduleValidator.DnsLabelPattern, Pattern("source", "postgres", "connectionSecretRef", "name"));
        Assert.Equal(ScheduleValidator.SecretKeyPattern, Pattern("source", "postgres", "connectionSecretRef", "key"));
        Assert.Equal(ScheduleValidator.BucketPattern, Pattern("storage", "s3", "bucket"));
        Assert.Equal(Quantity.PatternText, Pattern("output", "maxUncompressedBytes"));
        Assert.Equal(GoDuration.PatternText, Pattern("retention", "deltas"));
        Assert.Equal(OutputFormats.All, Enum(Walk(spec, "output", "formats", "[]")));
        Assert.Equal(TypesOfData.All, Enum(Walk(spec, "output", "typesOfData", "[]")));
        Assert.Equal(S3Compatibility.All, Enum(Walk(spec, "storage", "s3", "compatibility")));
        Assert.Equal(MissedRunPolicy.All, Enum(Walk(spec, "missedRuns")));
        Assert.Equal(ChangeDetectionModes.Names, Enum(Walk(spec, "entities", "[]", "changeDetection")));
        Assert.Equal(1L, (long)Walk(spec, "version")["minimum"]!);
        Assert.Equal(16L, (long)Walk(spec, "source", "postgres", "parallelism")["maximum"]!);
        Assert.Contains(Walk(spec, "source")["x-kubernetes-validations"]!.AsArray(), r => (string?)r!["rule"] == "has(self.postgres) != has(self.files)");
        Assert.Contains(Walk(spec, "storage")["x-kubernetes-validations"]!.AsArray(), r => (string?)r!["rule"] == "has(self.s3) != has(self.local)");
    }

    [Fact]
    public void The_crd_has_a_geometry_rule_for_exactly_the_formats_the_model_says_need_a_geometry()
    {
        // OutputFormats.Rules is the source of truth; the CEL rules repeat it for the API server, so
        // a format that gains or loses the geometry rule must change both or this fails.
        var rules = ((JsonObject)Schema["properties"]!["spec"]!)["x-kubernetes-validations"]!.AsArray()
            .Select(r => (string)r!["rule"]!)
            .Where(r => r.Contains("has(e.geometry)", StringComparison.Ordinal) && r.Contains("self.output.formats", StringComparison.Ordinal))
            .ToList();
        var expected = OutputFormats.NeedGeometry
            .Select(f => $"!has(self.output) || !has(self.output.formats) || !('{f}' in self.output.formats) || self.entities.exists(e, has(e.geometry))")
            .ToList();
        Assert.Equal(expected.Order(StringComparer.Ordinal), rules.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_crd_has_the_names_status_subresource_and_printer_columns_of_the_design()
    {
        Assert.Equal("exportschedules.bulkexport.io", (string?)Crd["metadata"]!["name"]);
        Assert.Equal(ExportSchedule.Group, (string?)Crd["spec"]!["group"]);
        Assert.Equal("Namespaced", (string?)Crd["spec"]!["scope"]);
        Assert.Equal(ExportSchedule.Plural, (string?)Crd["spec"]!["names"]!["plural"]);
        Assert.Equal(["exports", "xs"], Crd["spec"]!["names"]!["shortNames"]!.AsArray().Select(n => (string)n!));
        Assert.Equal("v1alpha1", (string?)Version["name"]);
        Assert.NotNull(Version["subresources"]!["status"]);
        var columns = Version["additionalPrinterColumns"]!.AsArray().Select(c => ((string)c!["name"]!, (long?)c["priority"] ?? 0L)).ToList();
        Assert.Equal(
            [("Register", 0L), ("Total", 0L), ("Delta", 0L), ("Last Total", 0L), ("Last Delta", 0L), ("Ready", 0L), ("Age", 0L), ("Suspended", 1L), ("Next Run", 1L)],
            columns);
    }

    private static IEnumerable<string> Enum(JsonObject schema) => schema["enum"]!.AsArray().Select(e => (string)e!);

    private static JsonObject Walk(JsonObject schema, params string[] path)
    {
        var current = schema;
        foreach (var step in path)
        {
            current = step == "[]" ? (JsonObject)current["items"]! : (JsonObject)current["properties"]![step]!;
        }

        return current;
    }

    private static void CompareObject(Type type, JsonObject schema, string path, List<string> errors)
    {
        if ((string?)schema["type"] != "object")
        {
            errors.Add($"{path}: CRD type is {(string?)schema["type"]}, model has an object ({type.Name})");
            return;
        }

        var props = schema["properties"] as JsonObject ?? [];
        var modelProps = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>()?.Condition != JsonIgnoreCondition.Always)
            .ToDictionary(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name));
        foreach (var (name, property) in modelProps)
        {
            if (props[name] is not JsonObject child)
            {
                errors.Add($"{path}.{name}: in the model ({type.Name}.{property.Name}) but not in the CRD");
                continue;
            }

            if (string.IsNullOrWhiteSpace((string?)child["description"]))
            {
                errors.Add($"{path}.{name}: no description in the CRD");
            }

            CompareType(property.PropertyType, child, $"{path}.{name}", errors);
        }

        foreach (var (name, _) in props)
        {
            if (!modelProps.ContainsKey(name))
            {
                errors.Add($"{path}.{name}: in the CRD but not in the model ({type.Name})");
            }
        }
    }

    private static void CompareType(Type type, JsonObject schema, string path, List<string> errors)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        var crdType = (string?)schema["type"];
        void Expect(string expected)
        {
            if (crdType != expected)
            {
                errors.Add($"{path}: CRD type is {crdType ?? "(none)"}, model type {type.Name} needs {expected}");
            }
        }

        if (type == typeof(string))
        {
            if (schema["x-kubernetes-int-or-string"] is null)
            {
                Expect("string");
            }
        }
        else if (type == typeof(int) || type == typeof(long))
        {
            Expect("integer");
        }
        else if (type == typeof(bool))
        {
            Expect("boolean");
        }
        else if (type == typeof(DateTimeOffset))
        {
            Expect("string");
            if ((string?)schema["format"] != "date-time")
            {
                errors.Add($"{path}: a time needs format date-time");
            }
        }
        else if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            Expect("object");
            if (schema["additionalProperties"] is null)
            {
                errors.Add($"{path}: a map needs additionalProperties");
            }
        }
        else if (type.IsGenericType && typeof(IEnumerable).IsAssignableFrom(type))
        {
            Expect("array");
            if (schema["items"] is JsonObject items)
            {
                var element = type.GetGenericArguments()[0];
                if (element.IsClass && element != typeof(string))
                {
                    CompareObject(element, items, $"{path}[]", errors);
                }
                else
                {
                    CompareType(element, items, $"{path}[]", errors);
                }
            }
        }
        else if (type.IsClass)
        {
            CompareObject(type, schema, path, errors);
        }
        else
        {
            errors.Add($"{path}: model type {type.Name} has no mapping in this test");
        }
    }
}
