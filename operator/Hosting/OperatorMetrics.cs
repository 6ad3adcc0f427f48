using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace BulkExport.Operator.Hosting;

/// <summary>
/// The operator's OpenTelemetry instruments, scraped at <c>/metrics</c> (Prometheus) and pushed by
/// OTLP when configured. Per-schedule names follow what users of scheduled-backup operators know
/// (Velero's <c>backup_attempt_total</c> and friends): <c>bulkexport_run_*</c> by namespace, schedule
/// and run type, zero-initialised when a schedule appears so a rate() or an absent() alert works
/// from the start.
/// </summary>
internal sealed class OperatorMetrics : IDisposable
{
    public const string MeterName = "BulkExport.Operator";
    public const string ActivitySourceName = "BulkExport.Operator";

    /// <summary>Run durations from seconds to the four hours a large total may take.</summary>
    private static readonly double[] DurationBuckets = [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400];

    private readonly Meter _meter;
    private readonly Counter<long> _reconciles;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _attempts;
    private readonly Counter<long> _successes;
    private readonly Counter<long> _failures;
    private readonly Histogram<double> _duration;
    private readonly ConcurrentDictionary<string, (double LastSuccessUnix, long LastGeneration)> _schedules = new();

    public OperatorMetrics(IMeterFactory? meters = null)
    {
        _meter = meters?.Create(MeterName, "1.0") ?? new Meter(MeterName, "1.0");
        _reconciles = _meter.CreateCounter<long>("bulkexport.operator.reconciles", description: "Reconciles of ExportSchedules, by result");
        _errors = _meter.CreateCounter<long>("bulkexport.operator.errors", description: "Reconciles that failed and were retried");
        _meter.CreateObservableGauge("bulkexport.operator.queue.depth", () => QueueDepth?.Invoke() ?? 0, description: "Schedules waiting to be reconciled");
        _attempts = _meter.CreateCounter<long>("bulkexport_run_attempts_total", description: "Export runs (Jobs) finished, successful or not");
        _successes = _meter.CreateCounter<long>("bulkexport_run_successes_total", description: "Export runs that succeeded");
        _failures = _meter.CreateCounter<long>("bulkexport_run_failures_total", description: "Export runs that failed");
        _duration = _meter.CreateHistogram("bulkexport_run_duration_seconds", unit: "s", description: "Duration of export runs, start to completion",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _meter.CreateObservableGauge("bulkexport_last_success_timestamp_seconds", () => _schedules.Select(kv =>
            new Measurement<double>(kv.Value.LastSuccessUnix, Tags(kv.Key))), unit: "s",
            description: "Unix time of the last successful export run per schedule (0: none yet)");
        _meter.CreateObservableGauge("bulkexport_last_generation", () => _schedules.Select(kv =>
            new Measurement<long>(kv.Value.LastGeneration, Tags(kv.Key))),
            description: "Last published generation per schedule (0: none yet)");
    }

    public static readonly ActivitySource Activities = new(ActivitySourceName, "1.0");

    public Func<int>? QueueDepth { get; set; }

    public void Reconciled(string result) => _reconciles.Add(1, new KeyValuePair<string, object?>("result", result));

    public void Error() => _errors.Add(1);

    /// <summary>Called on every reconcile of a schedule; the first call creates its series at zero.</summary>
    public void Schedule(string key, DateTimeOffset? lastSuccess, long? lastGeneration)
    {
        if (!_schedules.ContainsKey(key))
        {
            foreach (var type in new[] { "total", "delta" })
            {
                var tags = Tags(key, type);
                _attempts.Add(0, tags);
                _successes.Add(0, tags);
                _failures.Add(0, tags);
            }
        }

        _schedules[key] = (lastSuccess?.ToUnixTimeSeconds() ?? 0, lastGeneration ?? 0);
    }

    /// <summary>A finished run, counted once when it is recorded in status.</summary>
    public void Run(string key, string type, bool succeeded, TimeSpan? duration)
    {
        var tags = Tags(key, type);
        _attempts.Add(1, tags);
        (succeeded ? _successes : _failures).Add(1, tags);
        if (duration is { } d && d >= TimeSpan.Zero)
        {
            _duration.Record(d.TotalSeconds, tags);
        }
    }

    public void Forget(string key) => _schedules.TryRemove(key, out _);

    private static TagList Tags(string key, string? type = null)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var tags = new TagList
        {
            { "namespace", slash < 0 ? "" : key[..slash] },
            { "schedule", slash < 0 ? key : key[(slash + 1)..] },
        };
        if (type is not null)
        {
            tags.Add("type", type);
        }

        return tags;
    }

    public void Dispose() => _meter.Dispose();
}
