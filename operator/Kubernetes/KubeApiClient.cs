using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace BulkExport.Operator.Kubernetes;

/// <summary>
/// The operator's calls to the API server, made through the official KubernetesClient: its
/// configuration (kubeconfig with exec credential plugins, in-cluster service account), TLS, auth,
/// request pipeline and watch framing. Every kind goes through the client's generic object
/// operations, so one code path serves the built-in kinds and the ExportSchedule CRD; the informer
/// caches on top of it are the project's own. Every call but a watch has its own deadline
/// (<see cref="RequestTimeout"/>), and lists are read in pages of <see cref="PageSize"/>.
/// </summary>
internal sealed class KubeApiClient : IDisposable
{
    private readonly k8s.Kubernetes _client;
    private readonly RequestCountingHandler _counter;

    public KubeApiClient(KubernetesClientConfiguration config, TimeSpan? requestTimeout = null, int pageSize = 500)
    {
        Config = config;
        RequestTimeout = requestTimeout ?? TimeSpan.FromSeconds(30);
        PageSize = pageSize;
        _counter = new RequestCountingHandler(Counters);
        // The client builds core-group paths as /apis//v1 in its generic operations; CoreApiPaths
        // turns them into /api/v1, as the library's own GenericClient did.
        _client = new k8s.Kubernetes(config, new CoreApiPaths(), _counter);
    }

    /// <summary>A client for an API server without auth (tests, benchmarks).</summary>
    public static KubeApiClient ForServer(Uri server, TimeSpan? requestTimeout = null, int pageSize = 500) =>
        new(new KubernetesClientConfiguration { Host = server.ToString() }, requestTimeout, pageSize);

    public KubernetesClientConfiguration Config { get; }

    public TimeSpan RequestTimeout { get; }

    public int PageSize { get; }

    /// <summary>The official client, for what needs it directly.</summary>
    public IKubernetes Client => _client;

    /// <summary>Every request made, by verb; the benchmark and the no-write tests read it.</summary>
    public RequestCounters Counters { get; } = new();

    public async Task<JsonObject?> GetAsync(ResourceType type, string? ns, string name, CancellationToken ct)
    {
        try
        {
            return await CallAsync(type, t => ns is null
                ? _client.CustomObjects.GetClusterCustomObjectWithHttpMessagesAsync<JsonObject>(type.Group, type.Version, type.Plural, name, cancellationToken: t)
                : _client.CustomObjects.GetNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(type.Group, type.Version, ns, type.Plural, name, cancellationToken: t), ct).ConfigureAwait(false);
        }
        catch (KubeApiException e) when (e.IsNotFound)
        {
            return null;
        }
    }

    /// <summary>All items, read page by page with limit/continue; the resourceVersion is the first page's, the snapshot the pages share.</summary>
    public async Task<ObjectList> ListAsync(ResourceType type, string? ns, string? labelSelector, CancellationToken ct)
    {
        var items = new List<JsonObject>();
        string? resourceVersion = null;
        string? next = null;
        do
        {
            var token = next;
            var page = await CallAsync(type, t => ns is null
                ? _client.CustomObjects.ListCustomObjectForAllNamespacesWithHttpMessagesAsync<JsonObject>(type.Group, type.Version, type.Plural, continueParameter: token, labelSelector: labelSelector, limit: PageSize, cancellationToken: t)
                : _client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(type.Group, type.Version, ns, type.Plural, continueParameter: token, labelSelector: labelSelector, limit: PageSize, cancellationToken: t), ct).ConfigureAwait(false);
            resourceVersion ??= (string?)page["metadata"]?["resourceVersion"] ?? "";
            next = (string?)page["metadata"]?["continue"];
            foreach (var item in (page["items"] as JsonArray ?? []).OfType<JsonObject>())
            {
                // List items omit apiVersion and kind; callers and caches expect whole objects.
                item["apiVersion"] ??= type.ApiVersion;
                item["kind"] ??= type.Kind;
                items.Add(item);
            }
        }
        while (!string.IsNullOrEmpty(next));

        return new ObjectList(items, resourceVersion ?? "");
    }

    public Task<JsonObject> CreateAsync(ResourceType type, string? ns, JsonObject obj, CancellationToken ct) =>
        CallAsync(type, t => _client.CustomObjects.CreateNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(obj, type.Group, type.Version, ns, type.Plural, cancellationToken: t), ct);

    /// <summary>PUT: optimistic concurrency through the object's <c>metadata.resourceVersion</c>.</summary>
    public Task<JsonObject> UpdateAsync(ResourceType type, JsonObject obj, CancellationToken ct) =>
        CallAsync(type, t => _client.CustomObjects.ReplaceNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(obj, type.Group, type.Version, obj.Namespace(), type.Plural, obj.Name(), cancellationToken: t), ct);

    public Task<JsonObject> UpdateStatusAsync(ResourceType type, JsonObject obj, CancellationToken ct) =>
        CallAsync(type, t => _client.CustomObjects.ReplaceNamespacedCustomObjectStatusWithHttpMessagesAsync<JsonObject>(obj, type.Group, type.Version, obj.Namespace(), type.Plural, obj.Name(), cancellationToken: t), ct);

    public Task<JsonObject> PatchAsync(ResourceType type, string? ns, string name, JsonObject mergePatch, CancellationToken ct, bool status = false)
    {
        var patch = new V1Patch(mergePatch, V1Patch.PatchType.MergePatch);
        return CallAsync(type, t => status
            ? _client.CustomObjects.PatchNamespacedCustomObjectStatusWithHttpMessagesAsync<JsonObject>(patch, type.Group, type.Version, ns, type.Plural, name, cancellationToken: t)
            : _client.CustomObjects.PatchNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(patch, type.Group, type.Version, ns, type.Plural, name, cancellationToken: t), ct);
    }

    public async Task<bool> DeleteAsync(ResourceType type, string? ns, string name, CancellationToken ct)
    {
        try
        {
            await CallAsync(type, t => _client.CustomObjects.DeleteNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(type.Group, type.Version, ns, type.Plural, name, cancellationToken: t), ct).ConfigureAwait(false);
            return true;
        }
        catch (KubeApiException e) when (e.IsNotFound)
        {
            return false;
        }
    }

    /// <summary>
    /// One watch stream from <paramref name="resourceVersion"/>, framed and parsed by the client's
    /// watcher. It ends when the server closes it; resuming, re-listing on 410 and backoff are the
    /// <see cref="Informer"/>'s job. An ERROR event (an expired resourceVersion arrives inside a 200
    /// stream) is thrown as a <see cref="KubeApiException"/>.
    /// </summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(
        ResourceType type, string? ns, string? labelSelector, string? resourceVersion, TimeSpan timeout,
        [EnumeratorCancellation] CancellationToken ct)
    {
        // The server ends the stream after timeoutSeconds; if it vanishes without closing the
        // connection, this deadline ends the wait so the informer reconnects.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout + TimeSpan.FromSeconds(30));
        var seconds = (int)timeout.TotalSeconds;
        Exception? failure = null;
        var stream = ns is null
            ? _client.CustomObjects.WatchListCustomObjectForAllNamespacesAsync(type.Group, type.Version, type.Plural, allowWatchBookmarks: true, labelSelector: labelSelector, resourceVersion: resourceVersion, timeoutSeconds: seconds, onError: e => failure ??= e, cancellationToken: deadline.Token)
            : _client.CustomObjects.WatchListNamespacedCustomObjectAsync(type.Group, type.Version, ns, type.Plural, allowWatchBookmarks: true, labelSelector: labelSelector, resourceVersion: resourceVersion, timeoutSeconds: seconds, onError: e => failure ??= e, cancellationToken: deadline.Token);
        var events = stream.GetAsyncEnumerator(deadline.Token);
        try
        {
            while (true)
            {
                (k8s.WatchEventType Type, object Object) current;
                try
                {
                    if (failure is not null || !await events.MoveNextAsync().ConfigureAwait(false))
                    {
                        break;
                    }

                    current = events.Current;
                }
                catch (HttpOperationException e)
                {
                    throw Translate(e);
                }

                var mapped = current.Type switch
                {
                    k8s.WatchEventType.Added => WatchEventType.Added,
                    k8s.WatchEventType.Modified => WatchEventType.Modified,
                    k8s.WatchEventType.Deleted => WatchEventType.Deleted,
                    k8s.WatchEventType.Bookmark => WatchEventType.Bookmark,
                    _ => WatchEventType.Error,
                };
                if (mapped == WatchEventType.Error || current.Object is not JsonElement { ValueKind: JsonValueKind.Object } element)
                {
                    continue;
                }

                var obj = JsonObject.Create(element)!;
                obj["apiVersion"] ??= type.ApiVersion;
                obj["kind"] ??= type.Kind;
                yield return new WatchEvent(mapped, obj);
            }
        }
        finally
        {
            await events.DisposeAsync().ConfigureAwait(false);
        }

        switch (failure)
        {
            case null:
                break;
            case KubernetesException { Status: { } status }:
                throw new KubeApiException((HttpStatusCode)(status.Code ?? 500), status.Reason ?? "", status.Message ?? "");
            case OperationCanceledException when ct.IsCancellationRequested:
                break;
            default:
                throw failure;
        }
    }

    private async Task<JsonObject> CallAsync(ResourceType type, Func<CancellationToken, Task<HttpOperationResponse<JsonObject>>> call, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(RequestTimeout);
        try
        {
            using var response = await call(timeout.Token).ConfigureAwait(false);
            return response.Body ?? [];
        }
        catch (HttpOperationException e)
        {
            throw Translate(e);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new KubeApiException(HttpStatusCode.RequestTimeout, "Timeout", $"{type.Plural}: no answer within {RequestTimeout.TotalSeconds:0.#} s");
        }
    }

    private static KubeApiException Translate(HttpOperationException e)
    {
        var text = e.Response?.Content ?? "";
        JsonNode? status;
        try
        {
            status = text.Length > 0 ? JsonNode.Parse(text) : null;
        }
        catch (JsonException)
        {
            status = new JsonObject { ["message"] = text.Length > 200 ? text[..200] : text };
        }

        return KubeApiException.FromStatus(e.Response?.StatusCode ?? HttpStatusCode.InternalServerError, status);
    }

    public void Dispose() => _client.Dispose();

    /// <summary>Maps the generic operations' <c>/apis//v1/...</c> for the core group to <c>/api/v1/...</c>.</summary>
    private sealed class CoreApiPaths : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri is { } uri && uri.AbsolutePath.Contains("/apis//", StringComparison.Ordinal))
            {
                request.RequestUri = new UriBuilder(uri) { Path = uri.AbsolutePath.Replace("/apis//", "/api/", StringComparison.Ordinal) }.Uri;
            }

            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class RequestCountingHandler(RequestCounters counters) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var watch = request.RequestUri?.Query.Contains("watch=true", StringComparison.Ordinal) == true;
            counters.Count(watch ? "WATCH" : request.Method.Method);
            return base.SendAsync(request, cancellationToken);
        }
    }
}

/// <summary>Thread-safe request counts by verb.</summary>
internal sealed class RequestCounters
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _counts = new();

    public void Count(string verb) => _counts.AddOrUpdate(verb, 1, (_, n) => n + 1);

    public long this[string verb] => _counts.TryGetValue(verb, out var n) ? n : 0;

    public long Writes => this["POST"] + this["PUT"] + this["PATCH"] + this["DELETE"];

    public IReadOnlyDictionary<string, long> Snapshot() => new Dictionary<string, long>(_counts);
}
