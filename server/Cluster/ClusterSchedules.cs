using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Amazon.Runtime;
using System.Text.Json.Nodes;
using BulkExport.Api;
using k8s;
using k8s.Autorest;
using Microsoft.Extensions.Logging;

namespace BulkExport.Server.Cluster;

/// <summary>A schedule found in the cluster, with the S3 credentials of the Secret it names when those are read.</summary>
/// <param name="CredentialsId">Changes when the Secret's credentials do, so that a rotated Secret gets a new reader.</param>
internal sealed record DiscoveredSchedule(ExportSchedule Schedule, string Source, AWSCredentials? Credentials = null, string CredentialsId = "");

/// <summary>
/// The ExportSchedules of the given namespaces (all when the list is <c>*</c>), kept current by the
/// official KubernetesClient: one list, then a watch from its resourceVersion per namespace (or one
/// for all), re-listed when the server answers 410 Gone, reconnected with backoff after other
/// failures. <see cref="Changed"/> fires after every change, so a new schedule is served at once,
/// not on the next refresh. Every schedule goes through the same validation as a <c>--config</c>
/// file; an invalid one is skipped with a warning (the operator reports it on the schedule).
/// </summary>
internal sealed partial class ClusterSchedules : IDisposable
{
    private const string Group = "bulkexport.io";
    private const string Version = "v1alpha1";
    private const string Plural = "exportschedules";
    private static readonly TimeSpan WatchTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly k8s.Kubernetes _client;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Scope[] _scopes;
    private readonly Lock _lock = new();

    // Parsed once per (source, resourceVersion): an invalid schedule is logged once, not on every change.
    private readonly Dictionary<string, (string ResourceVersion, ExportSchedule? Schedule)> _parsed = new(StringComparer.Ordinal);

    // The last credentials read from each Secret (namespace/name#entries), used while a later read fails.
    private readonly Dictionary<string, (AWSCredentials Credentials, string Id)> _secrets = new(StringComparer.Ordinal);

    // Schedules already warned about being served with the exporter's writing credentials.
    private readonly HashSet<string> _warnedWriting = new(StringComparer.Ordinal);

    /// <param name="readStorageSecrets">
    /// Read the Secret each schedule names in <c>spec.storage.s3.readCredentialsSecretRef</c> (its namespace,
    /// get on Secrets) and serve the schedule with those credentials; a schedule without one is served with
    /// its <c>credentialsSecretRef</c> (the exporter's writing keys) and a warning; false: every schedule
    /// uses the service's own.
    /// </param>
    public ClusterSchedules(IReadOnlyList<string> namespaces, KubernetesClientConfiguration config, ILogger logger, TimeProvider? time = null, bool readStorageSecrets = false)
    {
        Namespaces = namespaces;
        ReadStorageSecrets = readStorageSecrets;
        _client = new k8s.Kubernetes(config);
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _scopes = AllNamespaces ? [new Scope(null)] : [.. namespaces.Select(ns => new Scope(ns))];
    }

    /// <summary>After a watch saw a schedule added, changed or deleted, or a re-list replaced them.</summary>
    public event Action? Changed;

    public IReadOnlyList<string> Namespaces { get; }

    public bool AllNamespaces => Namespaces is ["*"];

    public bool ReadStorageSecrets { get; }

    /// <summary>
    /// The schedules as the watches last saw them; a namespace not listed yet is listed now (so the first
    /// refresh at start sees every schedule). Throws <see cref="HttpRequestException"/> when that list fails.
    /// </summary>
    public async Task<IReadOnlyList<DiscoveredSchedule>> ListAsync(CancellationToken cancellationToken)
    {
        foreach (var scope in _scopes.Where(s => s.ResourceVersion is null))
        {
            await RelistAsync(scope, cancellationToken).ConfigureAwait(false);
        }

        var found = new List<DiscoveredSchedule>();
        var secretsInUse = new HashSet<string>(StringComparer.Ordinal);
        var (current, newlyWarned) = Current();
        foreach (var (source, secretName) in newlyWarned)
        {
            ServingWithWritingCredentials(source, secretName);
        }

        foreach (var (schedule, source) in current)
        {
            var s3 = schedule.Spec.Storage.S3;
            if (!ReadStorageSecrets || (s3?.ReadCredentialsSecretRef ?? s3?.CredentialsSecretRef) is not { Name.Length: > 0 } secretRef)
            {
                found.Add(new DiscoveredSchedule(schedule, source));
                continue;
            }

            // Read on every refresh, so that a rotated Secret takes effect without a restart.
            var ns = source[..source.IndexOf('/', StringComparison.Ordinal)];
            var secretName = $"{ns}/{secretRef.Name}";
            // By entry names too: the read-only and the writing keys may be two pairs in one Secret.
            var key = $"{secretName}#{secretRef.AccessKeyIdKey}#{secretRef.SecretAccessKeyKey}";
            secretsInUse.Add(key);
            (AWSCredentials Credentials, string Id) read;
            try
            {
                var secret = await _client.CoreV1.ReadNamespacedSecretAsync(secretRef.Name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                string Entry(string name) => secret.Data?.TryGetValue(name, out var bytes) == true && bytes.Length > 0
                    ? Encoding.UTF8.GetString(bytes).Trim()
                    : throw new InvalidDataException($"has no entry '{name}'");
                var accessKey = Entry(secretRef.AccessKeyIdKey);
                var secretKey = Entry(secretRef.SecretAccessKeyKey);
                var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(accessKey + "\n" + secretKey)))[..16];
                read = (new BasicAWSCredentials(accessKey, secretKey), id);
                lock (_lock)
                {
                    _secrets[key] = read;
                }
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or InvalidDataException or KubernetesException)
            {
                var reason = e is HttpOperationException h ? $"{(int)h.Response.StatusCode} {h.Response.ReasonPhrase}" : e.Message;
                bool known;
                lock (_lock)
                {
                    known = _secrets.TryGetValue(key, out read);
                }

                SecretUnreadable(source, secretName, reason, known ? "serving with the credentials read before" : "not served");
                if (!known)
                {
                    continue;
                }
            }

            found.Add(new DiscoveredSchedule(schedule, source, read.Credentials, read.Id));
        }

        // Keys no schedule names any more are dropped: a Secret's keys stay in memory only while a schedule
        // uses them, and a schedule created again later is not served with keys read before it was deleted.
        lock (_lock)
        {
            foreach (var unused in _secrets.Keys.Where(k => !secretsInUse.Contains(k)).ToList())
            {
                _secrets.Remove(unused);
            }
        }

        return found;
    }

    /// <summary>Watches every scope until <paramref name="cancellationToken"/> ends.</summary>
    public Task RunAsync(CancellationToken cancellationToken) => Task.WhenAll(_scopes.Select(s => WatchLoopAsync(s, cancellationToken)));

    /// <summary>
    /// The valid schedules the watches hold, and those of them to warn about now for being served
    /// with the writing keys. Both come from one snapshot under the lock: a refresh still working
    /// on an older snapshot (refreshes overlap: the timer's and the watch's) cannot warn again about
    /// a schedule a newer one saw deleted.
    /// </summary>
    private (IReadOnlyList<(ExportSchedule Schedule, string Source)> Found, IReadOnlyList<(string Source, string Secret)> Warn) Current()
    {
        var found = new List<(ExportSchedule Schedule, string Source)>();
        var warn = new List<(string, string)>();
        lock (_lock)
        {
            // Parsed schedules that no scope holds any more are gone: forget them.
            foreach (var gone in _parsed.Keys.Where(k => !_scopes.Any(s => s.Items.ContainsKey(k))).ToList())
            {
                _parsed.Remove(gone);
            }

            foreach (var (source, item) in _scopes.SelectMany(s => s.Items).OrderBy(i => i.Key, StringComparer.Ordinal))
            {
                var version = (string?)item["metadata"]?["resourceVersion"] ?? "";
                if (!_parsed.TryGetValue(source, out var parsed) || parsed.ResourceVersion != version)
                {
                    ExportSchedule? schedule = null;
                    try
                    {
                        schedule = ScheduleDocument.FromJson(item.DeepClone().AsObject(), source);
                    }
                    catch (ScheduleValidationException e)
                    {
                        InvalidSchedule(source, e.Message);
                    }

                    parsed = (version, schedule);
                    _parsed[source] = parsed;
                }

                if (parsed.Schedule is { } valid)
                {
                    found.Add((valid, source));
                }
            }

            // Only schedules still served with the writing keys stay warned about: one deleted (or
            // given read-only keys) is forgotten, so the set does not grow with every schedule that
            // ever existed, and a schedule that comes back that way is warned about again.
            var writing = ReadStorageSecrets
                ? found.Where(f => f.Schedule.Spec.Storage.S3 is { ReadCredentialsSecretRef: null, CredentialsSecretRef.Name.Length: > 0 }).ToList()
                : [];
            _warnedWriting.IntersectWith(writing.Select(w => w.Source));
            foreach (var (schedule, source) in writing)
            {
                if (_warnedWriting.Add(source))
                {
                    warn.Add((source, $"{source[..source.IndexOf('/', StringComparison.Ordinal)]}/{schedule.Spec.Storage.S3!.CredentialsSecretRef!.Name}"));
                }
            }
        }

        return (found, warn);
    }

    private async Task WatchLoopAsync(Scope scope, CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (scope.ResourceVersion is null)
                {
                    await RelistAsync(scope, cancellationToken).ConfigureAwait(false);
                    Changed?.Invoke();
                }

                await WatchAsync(scope, cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromSeconds(1);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (KubernetesException e) when (e.Status?.Code == (int)HttpStatusCode.Gone)
            {
                // The server no longer holds events from our resourceVersion: list again, then watch from there.
                WatchExpired(scope.Describe);
                scope.ResourceVersion = null;
            }
            catch (Exception e) when (e is HttpRequestException or HttpOperationException or KubernetesException or JsonException or IOException)
            {
                WatchFailed(scope.Describe, e.Message, backoff.TotalSeconds);
                try
                {
                    await Task.Delay(backoff, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }

    private async Task RelistAsync(Scope scope, CancellationToken cancellationToken)
    {
        var items = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        string? resourceVersion = null;
        string? next = null;
        do
        {
            var token = next;
            JsonObject page;
            try
            {
                using var response = scope.Namespace is null
                    ? await _client.CustomObjects.ListCustomObjectForAllNamespacesWithHttpMessagesAsync<JsonObject>(Group, Version, Plural, continueParameter: token, limit: 500, cancellationToken: cancellationToken).ConfigureAwait(false)
                    : await _client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(Group, Version, scope.Namespace, Plural, continueParameter: token, limit: 500, cancellationToken: cancellationToken).ConfigureAwait(false);
                page = response.Body;
            }
            catch (HttpOperationException e)
            {
                // One exception type for the refresher, with the status the API server gave.
                throw new HttpRequestException($"list {Plural} in {scope.Describe}: {(int)e.Response.StatusCode} {e.Response.ReasonPhrase}", e, e.Response.StatusCode);
            }

            resourceVersion ??= (string?)page["metadata"]?["resourceVersion"];
            next = (string?)page["metadata"]?["continue"];
            foreach (var item in (page["items"] as JsonArray ?? []).OfType<JsonObject>())
            {
                Add(items, item);
            }
        }
        while (!string.IsNullOrEmpty(next));

        lock (_lock)
        {
            scope.Items = items;
            scope.ResourceVersion = resourceVersion ?? "";
        }
    }

    private async Task WatchAsync(Scope scope, CancellationToken cancellationToken)
    {
        // The server ends the stream after timeoutSeconds; if it vanishes without closing the connection,
        // this deadline ends the wait so the loop reconnects.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(WatchTimeout + TimeSpan.FromSeconds(30));
        Exception? failure = null;
        var seconds = (int)WatchTimeout.TotalSeconds;
        var stream = scope.Namespace is null
            ? _client.CustomObjects.WatchListCustomObjectForAllNamespacesAsync(Group, Version, Plural, allowWatchBookmarks: true, resourceVersion: scope.ResourceVersion, timeoutSeconds: seconds, onError: e => failure ??= e, cancellationToken: deadline.Token)
            : _client.CustomObjects.WatchListNamespacedCustomObjectAsync(Group, Version, scope.Namespace, Plural, allowWatchBookmarks: true, resourceVersion: scope.ResourceVersion, timeoutSeconds: seconds, onError: e => failure ??= e, cancellationToken: deadline.Token);
        try
        {
            await foreach (var (type, obj) in stream.ConfigureAwait(false))
            {
                if (failure is not null)
                {
                    break;
                }

                if (obj is not JsonElement { ValueKind: JsonValueKind.Object } element || JsonObject.Create(element) is not { } item)
                {
                    continue;
                }

                var version = (string?)item["metadata"]?["resourceVersion"];
                var changed = false;
                lock (_lock)
                {
                    switch (type)
                    {
                        case WatchEventType.Added:
                        case WatchEventType.Modified:
                            Add(scope.Items, item);
                            changed = true;
                            break;
                        case WatchEventType.Deleted:
                            changed = scope.Items.Remove(SourceOf(item));
                            break;
                    }

                    if (!string.IsNullOrEmpty(version))
                    {
                        scope.ResourceVersion = version;
                    }
                }

                if (changed)
                {
                    Changed?.Invoke();
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Our own deadline: reconnect from the last resourceVersion.
            return;
        }

        if (failure is not null)
        {
            throw failure;
        }
    }

    private static void Add(Dictionary<string, JsonObject> items, JsonObject item)
    {
        // Items of a list carry no apiVersion and kind; the list's type says what they are.
        item["apiVersion"] ??= ExportSchedule.ApiVersionV1Alpha1;
        item["kind"] ??= ExportSchedule.KindName;
        items[SourceOf(item)] = item;
    }

    private static string SourceOf(JsonObject item) => $"{(string?)item["metadata"]?["namespace"]}/{(string?)item["metadata"]?["name"]}";

    public void Dispose() => _client.Dispose();

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "ExportSchedule {Source} is not valid and is not served: {Reason}")]
    private partial void InvalidSchedule(string source, string reason);

    [LoggerMessage(EventId = 303, Level = LogLevel.Warning, Message = "ExportSchedule {Source}: the storage credentials Secret {Secret} cannot be read ({Reason}); {Consequence}")]
    private partial void SecretUnreadable(string source, string secret, string reason, string consequence);

    [LoggerMessage(EventId = 304, Level = LogLevel.Warning, Message = "ExportSchedule {Source} has no spec.storage.s3.readCredentialsSecretRef: serving it with the exporter's writing credentials from {Secret}; give the download service read-only keys")]
    private partial void ServingWithWritingCredentials(string source, string secret);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "watch of ExportSchedules in {Scope} expired (410 Gone); listing again")]
    private partial void WatchExpired(string scope);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "ExportSchedules could not be listed or watched in {Scope}; serving the registers found before, retrying in {Seconds} s: {Reason}")]
    private partial void WatchFailed(string scope, string reason, double seconds);

    /// <summary>One namespace (or all): what its last list and watch events left, and where to resume.</summary>
    private sealed class Scope(string? ns)
    {
        public string? Namespace { get; } = ns;

        public string Describe => Namespace is null ? "all namespaces" : $"namespace {Namespace}";

        public Dictionary<string, JsonObject> Items { get; set; } = new(StringComparer.Ordinal);

        /// <summary>Null until listed, and again after a 410: the next step is a list.</summary>
        public string? ResourceVersion { get; set; }
    }
}
