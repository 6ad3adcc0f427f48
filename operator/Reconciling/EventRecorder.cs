using System.Globalization;
using System.Text.Json.Nodes;
using BulkExport.Operator.Kubernetes;
using Microsoft.Extensions.Logging;

namespace BulkExport.Operator.Reconciling;

/// <summary>Writes core/v1 Events about a schedule, so <c>kubectl describe</c> shows why it is not Ready.</summary>
internal sealed partial class EventRecorder(KubeApiClient client, TimeProvider time, string instance, ILogger logger)
{
    public const string Component = "bulkexport-operator";

    public Task WarningAsync(JsonObject schedule, string reason, string message, CancellationToken ct) =>
        RecordAsync(schedule, "Warning", reason, message, ct);

    public Task NormalAsync(JsonObject schedule, string reason, string message, CancellationToken ct) =>
        RecordAsync(schedule, "Normal", reason, message, ct);

    private async Task RecordAsync(JsonObject schedule, string type, string reason, string message, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var stamp = now.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        var ev = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Event",
            ["metadata"] = new JsonObject
            {
                ["name"] = $"{schedule.Name()}.{now.UtcTicks:x}",
                ["namespace"] = schedule.Namespace(),
            },
            ["involvedObject"] = new JsonObject
            {
                ["apiVersion"] = (string?)schedule["apiVersion"],
                ["kind"] = (string?)schedule["kind"],
                ["name"] = schedule.Name(),
                ["namespace"] = schedule.Namespace(),
                ["uid"] = schedule.Uid(),
                ["resourceVersion"] = schedule.ResourceVersion(),
            },
            ["reason"] = reason,
            ["message"] = message.Length <= 1024 ? message : message[..1021] + "...",
            ["type"] = type,
            ["source"] = new JsonObject { ["component"] = Component },
            ["firstTimestamp"] = stamp,
            ["lastTimestamp"] = stamp,
            ["count"] = 1,
            ["reportingComponent"] = Component,
            ["reportingInstance"] = instance,
        };
        try
        {
            await client.CreateAsync(ResourceType.Events, schedule.Namespace(), ev, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KubeApiException or HttpRequestException)
        {
            // An event is a courtesy; the condition in status carries the same information.
            LogEventFailed(logger, reason, e.Message);
        }
    }

    [LoggerMessage(EventId = 4290, Level = LogLevel.Warning, Message = "could not record event {Reason}: {Error}")]
    private static partial void LogEventFailed(ILogger logger, string reason, string error);
}
