using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using BulkExport.Operator.Kubernetes;
using Microsoft.Extensions.Logging;

namespace BulkExport.Operator.Reconciling;

/// <summary>
/// Writes core/v1 Events about a schedule, so <c>kubectl describe</c> shows why it is not Ready.
/// Named as client-go names them (<c>{involvedObject name}.{unix nanoseconds in hex}</c>), made
/// unique per recorder even when the clock does not move between two events; an event identical to
/// one recorded before (same object, type, reason and message) raises that Event's count and
/// lastTimestamp instead of adding another, as client-go's EventCorrelator does.
/// </summary>
internal sealed partial class EventRecorder(KubeApiClient client, TimeProvider time, string instance, ILogger logger)
{
    public const string Component = "bulkexport-operator";

    /// <summary>Identical events remembered for counting, as client-go's LRU (4,096 entries); forgotten all at once when full.</summary>
    private const int Remembered = 4096;

    private readonly ConcurrentDictionary<string, (string Name, int Count)> _recorded = new();
    private long _lastNanos;

    public Task WarningAsync(JsonObject schedule, string reason, string message, CancellationToken ct) =>
        RecordAsync(schedule, "Warning", reason, message, ct);

    public Task NormalAsync(JsonObject schedule, string reason, string message, CancellationToken ct) =>
        RecordAsync(schedule, "Normal", reason, message, ct);

    private async Task RecordAsync(JsonObject schedule, string type, string reason, string message, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var stamp = now.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        message = message.Length <= 1024 ? message : message[..1021] + "...";
        var ns = schedule.Namespace();
        // client-go's event key: source, involved object, type, reason, message.
        var key = string.Join('\n', Component, ns, schedule.Name(), schedule.Uid(), type, reason, message);
        try
        {
            if (_recorded.TryGetValue(key, out var earlier))
            {
                try
                {
                    var patch = new JsonObject { ["count"] = earlier.Count + 1, ["lastTimestamp"] = stamp };
                    await client.PatchAsync(ResourceType.Events, ns, earlier.Name, patch, ct).ConfigureAwait(false);
                    _recorded[key] = (earlier.Name, earlier.Count + 1);
                    return;
                }
                catch (KubeApiException e) when (e.IsNotFound)
                {
                    // Events expire (the API server's --event-ttl, 1 h by default): record it anew.
                }
            }

            var name = $"{schedule.Name()}.{UniqueNanos(now):x}";
            var ev = new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Event",
                ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
                ["involvedObject"] = new JsonObject
                {
                    ["apiVersion"] = (string?)schedule["apiVersion"],
                    ["kind"] = (string?)schedule["kind"],
                    ["name"] = schedule.Name(),
                    ["namespace"] = ns,
                    ["uid"] = schedule.Uid(),
                    ["resourceVersion"] = schedule.ResourceVersion(),
                },
                ["reason"] = reason,
                ["message"] = message,
                ["type"] = type,
                ["source"] = new JsonObject { ["component"] = Component },
                ["firstTimestamp"] = stamp,
                ["lastTimestamp"] = stamp,
                ["count"] = 1,
                ["reportingComponent"] = Component,
                ["reportingInstance"] = instance,
            };
            await client.CreateAsync(ResourceType.Events, ns, ev, ct).ConfigureAwait(false);
            if (_recorded.Count >= Remembered)
            {
                _recorded.Clear();
            }

            _recorded[key] = (name, 1);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            // An event is a courtesy (the condition in status carries the same information): its
            // failure must not fail the reconcile, but it is logged, never dropped unseen.
            LogEventFailed(logger, e, type, reason, schedule.Key(), e.Message);
        }
    }

    /// <summary>
    /// Nanoseconds since the Unix epoch (the clock's 100 ns ticks, scaled), strictly increasing per
    /// recorder: two events in the same tick (or under a clock that stands still) get two names.
    /// </summary>
    private long UniqueNanos(DateTimeOffset now)
    {
        var nanos = (now.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
        while (true)
        {
            var last = Interlocked.Read(ref _lastNanos);
            var next = Math.Max(nanos, last + 1);
            if (Interlocked.CompareExchange(ref _lastNanos, next, last) == last)
            {
                return next;
            }
        }
    }

    [LoggerMessage(EventId = 4290, Level = LogLevel.Warning, Message = "could not record {Type} event {Reason} for {Schedule}: {Error}")]
    private static partial void LogEventFailed(ILogger logger, Exception exception, string type, string reason, string schedule, string error);
}
