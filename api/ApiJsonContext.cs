using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace BulkExport.Api;

/// <summary>
/// Source-generated contracts of the schedule and the run summary, so the exporter binds its config and prints its
/// summary without reflection: its image is native AOT, where reflection-based System.Text.Json is off and the
/// trimmer would drop the setters it calls (bench/README, native AOT). The operator and the download service keep
/// <see cref="ScheduleDocument.JsonOptions"/> for their other types.
/// </summary>
[JsonSerializable(typeof(ExportSchedule))]
[JsonSerializable(typeof(RunSummary))]
internal sealed partial class ApiJsonContext : JsonSerializerContext
{
    /// <summary>The generated contract of <typeparamref name="T"/> under a copy of <paramref name="options"/> (same names and rules).</summary>
    public static JsonTypeInfo<T> For<T>(JsonSerializerOptions options) =>
        (JsonTypeInfo<T>)new JsonSerializerOptions(options) { TypeInfoResolver = Default }.GetTypeInfo(typeof(T));
}
