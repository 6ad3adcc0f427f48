using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace BulkExport.Operator.Hosting;

/// <summary>The operator's OpenTelemetry instruments (exported through OTLP when configured).</summary>
internal sealed class OperatorMetrics : IDisposable
{
    public const string MeterName = "BulkExport.Operator";

    private readonly Meter _meter = new(MeterName, "1.0");
    private readonly Counter<long> _reconciles;
    private readonly Counter<long> _errors;
    private readonly ConcurrentDictionary<string, (double LastSuccessUnix, long LastGeneration)> _schedules = new();

    public OperatorMetrics()
    {
        _reconciles = _meter.CreateCounter<long>("bulkexport.operator.reconciles", description: "Reconciles of ExportSchedules, by result");
        _errors = _meter.CreateCounter<long>("bulkexport.operator.errors", description: "Reconciles that failed and were retried");
        _meter.CreateObservableGauge("bulkexport.operator.queue.depth", () => QueueDepth?.Invoke() ?? 0, description: "Schedules waiting to be reconciled");
        _meter.CreateObservableGauge("bulkexport.schedule.last_success_time", () => _schedules.Select(kv =>
            new Measurement<double>(kv.Value.LastSuccessUnix, new KeyValuePair<string, object?>("schedule", kv.Key))), unit: "s",
            description: "Unix time of the last successful export run per schedule");
        _meter.CreateObservableGauge("bulkexport.schedule.last_generation", () => _schedules.Select(kv =>
            new Measurement<long>(kv.Value.LastGeneration, new KeyValuePair<string, object?>("schedule", kv.Key))),
            description: "Last published generation per schedule");
    }

    public Func<int>? QueueDepth { get; set; }

    public void Reconciled(string result) => _reconciles.Add(1, new KeyValuePair<string, object?>("result", result));

    public void Error() => _errors.Add(1);

    public void Schedule(string key, DateTimeOffset? lastSuccess, long? lastGeneration)
    {
        if (lastSuccess is null && lastGeneration is null)
        {
            return;
        }

        _schedules[key] = (lastSuccess?.ToUnixTimeSeconds() ?? 0, lastGeneration ?? 0);
    }

    public void Forget(string key) => _schedules.TryRemove(key, out _);

    public void Dispose() => _meter.Dispose();
}
