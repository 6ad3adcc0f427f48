using System.Text.Json;
using System.Text.Json.Nodes;
using BulkExport.Api;

namespace BulkExport.Operator.Tests.Support;

/// <summary>ExportSchedule documents for tests.</summary>
internal static class TestSchedules
{
    public const string Namespace = "registers";

    public static string SamplePath => Path.Combine(AppContext.BaseDirectory, "samples", "exportschedule-dar.yaml");

    /// <summary>A file-fed schedule writing to a local claim: needs no secrets.</summary>
    public static JsonObject Files(string name, string register = "DAR", string ns = Namespace, string storagePath = "/out") =>
        (JsonObject)ScheduleDocument.ParseYaml($"""
            apiVersion: bulkexport.io/v1alpha1
            kind: ExportSchedule
            metadata:
              name: {name}
              namespace: {ns}
            spec:
              register: {register}
              timeZone: Europe/Copenhagen
              total: {"{"}schedule: "0 3 * * 6"{"}"}
              delta: {"{"}schedule: "0 3 * * *"{"}"}
              source:
                files: {"{"}path: /data, claimName: snapshots{"}"}
              entities:
                - name: Adresse
                  key: [id]
              storage:
                local: {"{"}path: {storagePath}, claimName: exports{"}"}
            """)[0]!;

    /// <summary>The DAR sample: PostgreSQL source and S3 storage, both with secret references.</summary>
    public static JsonObject Sample(string? name = null)
    {
        var obj = (JsonObject)ScheduleDocument.ParseYaml(File.ReadAllText(SamplePath))[0]!;
        if (name is not null)
        {
            obj["metadata"]!["name"] = name;
        }

        return obj;
    }

    public static JsonObject Secret(string name, params string[] keys) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Secret",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = Namespace },
        ["data"] = new JsonObject(keys.Select(k => new KeyValuePair<string, JsonNode?>(k, Convert.ToBase64String("x"u8.ToArray())))),
    };

    public static string SummaryJson(long generation, string run, bool succeeded = true, string? error = null) =>
        JsonSerializer.Serialize(new RunSummary
        {
            Outcome = succeeded ? "Succeeded" : "Failed",
            Register = "DAR",
            Run = run,
            Generation = generation,
            BaseGeneration = generation - 1,
            Types = ["Bitemporal"],
            PointInTime = DateTimeOffset.UtcNow.AddMinutes(-5),
            CompletionTime = DateTimeOffset.UtcNow,
            Files = 3,
            Records = 1000,
            Bytes = 123456,
            ExitCode = succeeded ? 0 : 1,
            Error = error,
        }, ScheduleDocument.JsonOptions);
}
