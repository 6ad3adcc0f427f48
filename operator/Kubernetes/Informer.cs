using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace BulkExport.Operator.Kubernetes;

internal sealed class InformerOptions
{
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Server-side watch timeout; the API server closes the stream after it and we resume.</summary>
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// A list-then-watch cache of one resource type in one namespace (or all), like client-go's
/// informer: it resumes each watch from the last resourceVersion it saw (bookmarks included),
/// re-lists when the server answers 410 Gone, and reconnects with exponential backoff and jitter
/// when a stream fails. Handlers run on the watch loop, so they must be quick (enqueue a key).
/// </summary>
internal sealed partial class Informer
{
    private readonly KubeApiClient _client;
    private readonly ResourceType _type;
    private readonly string? _namespace;
    private readonly string? _labelSelector;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly InformerOptions _options;
    private readonly ConcurrentDictionary<string, JsonObject> _cache = new();
    /// <summary>Serializes the cache's writers (the watch loop and <see cref="Observe"/> from workers); readers take no lock.</summary>
    private readonly Lock _write = new();
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Action<WatchEventType, JsonObject, JsonObject?>> _handlers = [];
    private long _relists;
    private long _reconnects;

    public Informer(KubeApiClient client, ResourceType type, string? ns, string? labelSelector, ILogger logger, TimeProvider time, InformerOptions? options = null)
    {
        _client = client;
        _type = type;
        _namespace = ns;
        _labelSelector = labelSelector;
        _logger = logger;
        _time = time;
        _options = options ?? new InformerOptions();
    }

    public ResourceType Type => _type;

    /// <summary>The namespace watched, or null for all namespaces.</summary>
    public string? Namespace => _namespace;
    public Task Synced => _synced.Task;
    public bool HasSynced => _synced.Task.IsCompleted;
    public string ResourceVersion { get; private set; } = "";
    public long Relists => Interlocked.Read(ref _relists);
    public long Reconnects => Interlocked.Read(ref _reconnects);

    /// <summary>Add handlers before <see cref="RunAsync"/>; they see every change, including those of a re-list.</summary>
    public void OnChange(Action<WatchEventType, JsonObject, JsonObject?> handler) => _handlers.Add(handler);

    public JsonObject? Get(string? ns, string name) => _cache.TryGetValue(Meta.Key(ns, name), out var obj) ? obj : null;

    public IEnumerable<JsonObject> Items => _cache.Values;

    public async Task RunAsync(CancellationToken ct)
    {
        var needList = true;
        var attempt = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (needList)
                {
                    await ListAsync(ct).ConfigureAwait(false);
                    needList = false;
                }

                await foreach (var e in _client.WatchAsync(_type, _namespace, _labelSelector, ResourceVersion, _options.WatchTimeout, ct).ConfigureAwait(false))
                {
                    attempt = 0;
                    Apply(e);
                }

                // A clean end (server timeout or restart): resume from where we are, no backoff.
            }
            catch (KubeApiException e) when (e.IsGone)
            {
                Interlocked.Increment(ref _relists);
                LogRelist(_logger, _type.Plural, ResourceVersion);
                needList = true;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                Interlocked.Increment(ref _reconnects);
                var delay = Backoff(attempt++);
                LogWatchFailed(_logger, _type.Plural, delay.TotalMilliseconds, e.Message);
                try
                {
                    await Task.Delay(delay, _time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private TimeSpan Backoff(int attempt)
    {
        var exp = _options.InitialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 16));
        var capped = Math.Min(exp, _options.MaxBackoff.TotalMilliseconds);
        // Jitter spreads the reconnects of many watchers after an API server restart.
        return TimeSpan.FromMilliseconds(capped * (0.5 + (Random.Shared.NextDouble() / 2)));
    }

    private async Task ListAsync(CancellationToken ct)
    {
        var list = await _client.ListAsync(_type, _namespace, _labelSelector, ct).ConfigureAwait(false);
        var changes = new List<(WatchEventType Type, JsonObject Object, JsonObject? Old)>();
        lock (_write)
        {
            // A re-list replaces the store, as client-go's Replace does, except for what our own
            // writes put there after the list's snapshot was taken (Observe, from a worker, while the
            // list was on the wire): the snapshot is older than those, and the watch resumed from its
            // resourceVersion brings their events next.
            var seen = new HashSet<string>();
            foreach (var item in list.Items)
            {
                var key = item.Key();
                seen.Add(key);
                var existing = _cache.TryGetValue(key, out var old) ? old : null;
                if (existing is not null && ResourceVersions.IsNewer(existing.ResourceVersion(), item.ResourceVersion()))
                {
                    continue;
                }

                _cache[key] = item;
                if (existing is null || existing.ResourceVersion() != item.ResourceVersion())
                {
                    changes.Add((existing is null ? WatchEventType.Added : WatchEventType.Modified, item, existing));
                }
            }

            foreach (var (key, cached) in _cache)
            {
                if (!seen.Contains(key) && !ResourceVersions.IsNewer(cached.ResourceVersion(), list.ResourceVersion)
                    && _cache.TryRemove(key, out var gone))
                {
                    changes.Add((WatchEventType.Deleted, gone, gone));
                }
            }

            ResourceVersion = list.ResourceVersion;
        }

        foreach (var (type, obj, old) in changes)
        {
            Notify(type, obj, old);
        }

        _synced.TrySetResult();
    }

    /// <summary>
    /// One watch event into the cache. Within one watch stream, and from a list to the watch that
    /// resumes from its resourceVersion, the API server delivers changes in order, and client-go's
    /// informer relies on that alone. The one writer here that is not in that order is
    /// <see cref="Observe"/>: a worker puts its write's answer into the cache as soon as it has it,
    /// while events older than that write may still be on their way (the watch lags the write, as
    /// the real server's watch cache lags etcd). Those events must not take the cache back: an
    /// ADDED or MODIFIED older than the cached object is dropped, and so is a DELETED of another
    /// incarnation (another uid: a name is unique while its object exists, so a cached object with
    /// a different uid was created after that deletion, whatever the resourceVersions). A dropped
    /// event needs no handler: the write that superseded it was made by a reconcile that had read
    /// the state before it (a write only succeeds on the version it read), and its own event
    /// follows in the stream.
    /// </summary>
    private void Apply(WatchEvent e)
    {
        var rv = e.Object.ResourceVersion();
        var key = e.Object.Key();
        JsonObject? old = null;
        var notify = false;
        lock (_write)
        {
            switch (e.Type)
            {
                case WatchEventType.Added:
                case WatchEventType.Modified:
                    _cache.TryGetValue(key, out old);
                    if (old is null || !ResourceVersions.IsNewer(old.ResourceVersion(), rv))
                    {
                        _cache[key] = e.Object;
                        notify = true;
                    }

                    break;
                case WatchEventType.Deleted:
                    _cache.TryGetValue(key, out old);
                    if (old is not null && (old.Uid() != e.Object.Uid() || ResourceVersions.IsNewer(old.ResourceVersion(), rv)))
                    {
                        // A later incarnation, or a newer version written by us: keep it.
                        break;
                    }

                    if (old is not null)
                    {
                        _cache.TryRemove(key, out _);
                    }

                    // Handlers see a DELETED even of an object the cache never held: it carries the
                    // object's last state (a pod's termination message).
                    notify = true;
                    break;
                default:
                    break;
            }

            if (!string.IsNullOrEmpty(rv))
            {
                ResourceVersion = rv;
            }
        }

        if (notify)
        {
            Notify(e.Type, e.Object, old);
        }
    }

    private void Notify(WatchEventType type, JsonObject obj, JsonObject? old)
    {
        foreach (var handler in _handlers)
        {
            handler(type, obj, old);
        }
    }

    /// <summary>
    /// Puts the answer of our own write into the cache before its watch event arrives, so the next
    /// reconcile does not act on the version it just replaced. Only while the stream has not passed
    /// the write: once it has, the cache holds the write or what came after it (a deletion
    /// included, which this must not undo). Where resourceVersions do not compare, the stream
    /// alone fills the cache.
    /// </summary>
    public void Observe(JsonObject written)
    {
        var rv = written.ResourceVersion();
        lock (_write)
        {
            if (ResourceVersions.Compare(ResourceVersion, rv) is < 0
                && (!_cache.TryGetValue(written.Key(), out var cached) || ResourceVersions.Compare(cached.ResourceVersion(), rv) is < 0))
            {
                _cache[written.Key()] = written;
            }
        }
    }

    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "watch of {Resource} expired at resourceVersion {ResourceVersion}; re-listing")]
    private static partial void LogRelist(ILogger logger, string resource, string resourceVersion);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "watch of {Resource} failed; reconnecting in {DelayMs:F0} ms: {Error}")]
    private static partial void LogWatchFailed(ILogger logger, string resource, double delayMs, string error);
}
