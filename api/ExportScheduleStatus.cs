using System.Text.Json.Serialization;

namespace BulkExport.Api;

public sealed class ExportScheduleStatus
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long ObservedGeneration { get; set; }
    public List<Condition> Conditions { get; set; } = [];
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? LastGeneration { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public RunStatus? LastTotal { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public RunStatus? LastDelta { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public FailureStatus? LastFailure { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? NextTotalTime { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? NextDeltaTime { get; set; }
    /// <summary>The earlier of the next total and delta runs: both publish a delta.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? NextRunTime { get; set; }
    /// <summary>The last bulkexport.io/run-now annotation value acted on, so each nonce starts one run.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? LastRunNow { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public RetentionStatus? Retention { get; set; }
}

public sealed class Condition
{
    public string Type { get; set; } = "";
    public string Status { get; set; } = "Unknown";
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long ObservedGeneration { get; set; }
    public DateTimeOffset LastTransitionTime { get; set; }
    public string Reason { get; set; } = "";
    public string Message { get; set; } = "";
}

public sealed class RunStatus
{
    public long Generation { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? BaseGeneration { get; set; }
    public DateTimeOffset PointInTime { get; set; }
    public DateTimeOffset CompletionTime { get; set; }
    public long Files { get; set; }
    public long Records { get; set; }
    public long Bytes { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Job { get; set; }
}

public sealed class FailureStatus
{
    public DateTimeOffset Time { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Job { get; set; }
    public string Message { get; set; } = "";
}

public sealed class RetentionStatus
{
    public DateTimeOffset LastRunTime { get; set; }
    public long DeletedFiles { get; set; }
    public long DeletedBytes { get; set; }
}
