using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using BulkExport.Operator.Hosting;
using BulkExport.Operator.Kubernetes;
using Microsoft.Extensions.Logging;

namespace BulkExport.Operator.Runtime;

/// <summary>
/// What a reconciler gives the runtime, as in controller-runtime: the watches it needs (declared on
/// every start, since the caches are rebuilt when leadership is regained) and the reconcile of one
/// key. The reconciler never lists, watches, queues or retries itself.
/// </summary>
internal interface IReconciler
{
    /// <summary>Declares the caches and their event handlers; called before the caches start.</summary>
    void Configure(ControllerRuntime runtime);

    /// <summary>Brings one key to its desired state. An exception means "retry later, with backoff".</summary>
    Task ReconcileAsync(string key, CancellationToken ct);

    /// <summary>Every key the periodic resync visits.</summary>
    IEnumerable<string> AllKeys();
}

/// <summary>One resource type's informers (one per watched namespace, or one for all), read as a single cache.</summary>
internal sealed class Cache(ResourceType type, IReadOnlyList<Informer> informers)
{
    public ResourceType Type { get; } = type;

    public IReadOnlyList<Informer> Informers { get; } = informers;

    public JsonObject? Get(string? ns, string name)
    {
        foreach (var informer in Informers)
        {
            if (informer.Get(ns, name) is { } obj)
            {
                return obj;
            }
        }

        return null;
    }

    public IEnumerable<JsonObject> Items => Informers.SelectMany(i => i.Items);

    public void OnChange(Action<WatchEventType, JsonObject, JsonObject?> handler)
    {
        foreach (var informer in Informers)
        {
            informer.OnChange(handler);
        }
    }

    /// <summary>Puts our own write's answer into the cache of its namespace before its watch event arrives.</summary>
    public void Observe(JsonObject written) => Informers.First(i => i.Namespace is null || i.Namespace == written.Namespace()).Observe(written);
}

/// <summary>
/// The controller runtime the client library lacks (KubeOps' and controller-runtime's part): the
/// informer caches, a deduplicating work queue, workers that call the reconciler with per-key
/// exponential backoff on failure, the periodic resync and timed wake-ups. It knows nothing about
/// ExportSchedules.
/// </summary>
internal sealed partial class ControllerRuntime
{
    private readonly OperatorOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly OperatorMetrics _metrics;
    private readonly InformerOptions _informerOptions;
    private readonly ConcurrentDictionary<string, int> _failures = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _wakeups = new();
    private readonly List<Cache> _caches = [];
    private IReconciler? _reconciler;
    private long _reconciles;

    public ControllerRuntime(KubeApiClient client, OperatorOptions options, ILogger logger, TimeProvider time, OperatorMetrics metrics, InformerOptions? informerOptions = null)
    {
        Client = client;
        _options = options;
        _logger = logger;
        _time = time;
        _metrics = metrics;
        _informerOptions = informerOptions ?? new InformerOptions();
        Queue = new WorkQueue(time);
        _metrics.QueueDepth = () => Queue.Depth;
    }

    public KubeApiClient Client { get; }

    public WorkQueue Queue { get; private set; }

    public long Reconciles => Interlocked.Read(ref _reconciles);

    /// <summary>True once every cache has its first list; until then nothing is reconciled.</summary>
    public bool Synced { get; private set; }

    public IEnumerable<Informer> Informers => _caches.SelectMany(c => c.Informers);

    public void Use(IReconciler reconciler) => _reconciler = reconciler;

    /// <summary>A cache of <paramref name="type"/> in every watched namespace; for <see cref="IReconciler.Configure"/>.</summary>
    public Cache Watch(ResourceType type, string? labelSelector)
    {
        var namespaces = _options.Namespaces.Count == 0 ? [null] : _options.Namespaces.Select(n => (string?)n).ToList();
        var cache = new Cache(type, [.. namespaces.Select(ns => new Informer(Client, type, ns, labelSelector, _logger, _time, _informerOptions))]);
        _caches.Add(cache);
        return cache;
    }

    public async Task RunAsync(CancellationToken ct)
    {
        var reconciler = _reconciler ?? throw new InvalidOperationException("no reconciler: call Use first");
        Synced = false;
        Queue = new WorkQueue(_time);
        _caches.Clear();
        reconciler.Configure(this);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var running = Informers.Select(i => i.RunAsync(stop.Token)).ToList();
        try
        {
            await Task.WhenAll(Informers.Select(i => i.Synced)).WaitAsync(ct).ConfigureAwait(false);
            Synced = true;
            var keys = reconciler.AllKeys().ToList();
            LogSynced(_logger, keys.Count);
            keys.ForEach(Queue.Add);
            running.AddRange(Enumerable.Range(0, _options.Workers).Select(_ => WorkerAsync(reconciler, stop.Token)));
            running.Add(ResyncAsync(reconciler, stop.Token));
            await Task.WhenAll(running).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping (shutdown or lost leadership).
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(running.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default))).ConfigureAwait(false);
            Synced = false;
        }
    }

    /// <summary>Queues every key, as the periodic resync does.</summary>
    public void ResyncNow()
    {
        foreach (var key in _reconciler?.AllKeys() ?? [])
        {
            Queue.Add(key);
        }
    }

    /// <summary>Reconciles one key now, outside the workers (tests).</summary>
    public Task ReconcileAsync(string key, CancellationToken ct) =>
        (_reconciler ?? throw new InvalidOperationException("no reconciler")).ReconcileAsync(key, ct);

    /// <summary>Queues <paramref name="key"/> again at <paramref name="when"/>, unless the resync comes first or an earlier wake-up is pending.</summary>
    private static readonly TimeSpan EarlyFireTolerance = TimeSpan.FromMilliseconds(250);

    public void WakeAt(string key, DateTimeOffset when, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        if (when - now > _options.ResyncPeriod)
        {
            return;
        }

        // One pending wake-up per key: a later one is covered by the earlier reconcile. A pending one due
        // within the tolerance may be the very wake-up now running (timers run on a monotonic clock and
        // may fire a little before the wall clock reaches their time): a reconcile it started that asks
        // again for the same time must be queued again, or the wake-up is lost.
        if (_wakeups.TryGetValue(key, out var pending) && pending - now > EarlyFireTolerance && pending <= when)
        {
            return;
        }

        _wakeups[key] = when;
        Queue.AddAfter(key, when - now, ct);
    }

    /// <summary>Drops what the runtime keeps for a key that is gone.</summary>
    public void Forget(string key)
    {
        _wakeups.TryRemove(key, out _);
        _failures.TryRemove(key, out _);
    }

    private async Task ResyncAsync(IReconciler reconciler, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.ResyncPeriod, _time, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            foreach (var key in reconciler.AllKeys())
            {
                Queue.Add(key);
            }
        }
    }

    private async Task WorkerAsync(IReconciler reconciler, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            string key;
            try
            {
                key = await Queue.TakeAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await reconciler.ReconcileAsync(key, ct).ConfigureAwait(false);
                _failures.TryRemove(key, out _);
                _metrics.Reconciled("success");
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Rate-limited retry: 200 ms doubling to a minute, with jitter so keys that failed
                // together (an API server restart) do not retry together.
                var attempt = _failures.AddOrUpdate(key, 1, (_, n) => n + 1);
                var delay = TimeSpan.FromMilliseconds(Math.Min(100 * Math.Pow(2, attempt), 60_000) * (0.5 + (Random.Shared.NextDouble() / 2)));
                _metrics.Reconciled("error");
                _metrics.Error();
                LogReconcileFailed(_logger, e, key, delay.TotalMilliseconds);
                Queue.AddAfter(key, delay, ct);
            }
            finally
            {
                Interlocked.Increment(ref _reconciles);
                Queue.Done(key);
            }
        }
    }

    [LoggerMessage(EventId = 4300, Level = LogLevel.Information, Message = "caches synced; {Count} objects to reconcile")]
    private static partial void LogSynced(ILogger logger, int count);

    [LoggerMessage(EventId = 4301, Level = LogLevel.Error, Message = "reconcile of {Key} failed; retrying in {DelayMs:F0} ms")]
    private static partial void LogReconcileFailed(ILogger logger, Exception exception, string key, double delayMs);
}
