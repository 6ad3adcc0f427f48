using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BulkExport.Operator.Kubernetes;

/// <summary>
/// A small REST client for the Kubernetes API on untyped JSON. It follows the API conventions
/// (collection and item paths, <c>Status</c> errors, resourceVersion, the status subresource,
/// merge patches, newline-delimited watch streams) and nothing more, so that swapping it for the
/// KubernetesClient package later touches only this folder.
/// </summary>
internal sealed class KubeApiClient : IDisposable
{
    private const string MergePatch = "application/merge-patch+json";
    private readonly HttpClient _http;

    public KubeApiClient(KubeConfig config)
    {
        Config = config;
        _http = new HttpClient(config.CreateHandler(), disposeHandler: true)
        {
            BaseAddress = config.Server,
            // Watches are long-lived; each call sets its own deadline through its CancellationToken.
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("bulkexport-operator", "1.0"));
    }

    public KubeConfig Config { get; }

    /// <summary>Every request made, by verb; the benchmark and the no-write tests read it.</summary>
    public RequestCounters Counters { get; } = new();

    public async Task<JsonObject?> GetAsync(ResourceType type, string? ns, string name, CancellationToken ct)
    {
        try
        {
            return await SendAsync(HttpMethod.Get, type.ItemPath(ns, name), null, null, ct).ConfigureAwait(false);
        }
        catch (KubeApiException e) when (e.IsNotFound)
        {
            return null;
        }
    }

    public async Task<ObjectList> ListAsync(ResourceType type, string? ns, string? labelSelector, CancellationToken ct)
    {
        var path = type.CollectionPath(ns) + Query(("labelSelector", labelSelector));
        var list = await SendAsync(HttpMethod.Get, path, null, null, ct).ConfigureAwait(false);
        var items = new List<JsonObject>();
        if (list["items"] is JsonArray array)
        {
            foreach (var item in array.OfType<JsonObject>())
            {
                // List items omit apiVersion and kind; callers and caches expect whole objects.
                item["apiVersion"] ??= type.ApiVersion;
                item["kind"] ??= type.Kind;
                items.Add(item);
            }
        }

        return new ObjectList(items, (string?)list["metadata"]?["resourceVersion"] ?? "");
    }

    public Task<JsonObject> CreateAsync(ResourceType type, string? ns, JsonObject obj, CancellationToken ct) =>
        SendAsync(HttpMethod.Post, type.CollectionPath(ns), obj, null, ct);

    /// <summary>PUT: optimistic concurrency through the object's <c>metadata.resourceVersion</c>.</summary>
    public Task<JsonObject> UpdateAsync(ResourceType type, JsonObject obj, CancellationToken ct) =>
        SendAsync(HttpMethod.Put, type.ItemPath(obj.Namespace(), obj.Name()), obj, null, ct);

    public Task<JsonObject> UpdateStatusAsync(ResourceType type, JsonObject obj, CancellationToken ct) =>
        SendAsync(HttpMethod.Put, type.ItemPath(obj.Namespace(), obj.Name()) + "/status", obj, null, ct);

    public Task<JsonObject> PatchAsync(ResourceType type, string? ns, string name, JsonObject mergePatch, CancellationToken ct, bool status = false) =>
        SendAsync(HttpMethod.Patch, type.ItemPath(ns, name) + (status ? "/status" : ""), mergePatch, MergePatch, ct);

    public async Task<bool> DeleteAsync(ResourceType type, string? ns, string name, CancellationToken ct)
    {
        try
        {
            await SendAsync(HttpMethod.Delete, type.ItemPath(ns, name), null, null, ct).ConfigureAwait(false);
            return true;
        }
        catch (KubeApiException e) when (e.IsNotFound)
        {
            return false;
        }
    }

    /// <summary>
    /// One watch stream from <paramref name="resourceVersion"/>. It ends when the server closes it;
    /// resuming, re-listing on 410 and backoff are the <see cref="Informer"/>'s job.
    /// </summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(
        ResourceType type, string? ns, string? labelSelector, string? resourceVersion, TimeSpan timeout,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var path = type.CollectionPath(ns) + Query(
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", resourceVersion),
            ("labelSelector", labelSelector),
            ("timeoutSeconds", ((int)timeout.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        Counters.Count("WATCH");
        // The server ends the stream after timeoutSeconds; if it vanishes without closing the
        // connection, this deadline ends the wait so the informer reconnects.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout + TimeSpan.FromSeconds(30));
        ct = deadline.Token;
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, ct).ConfigureAwait(false);
        }

        using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            var node = JsonNode.Parse(line);
            var eventType = WatchEvent.ParseType((string?)node?["type"]);
            if (node?["object"] is not JsonObject obj)
            {
                continue;
            }

            if (eventType == WatchEventType.Error)
            {
                // Kubernetes reports an expired resourceVersion inside a 200 stream as an ERROR event.
                var code = obj["code"] is JsonValue c && c.TryGetValue<int>(out var i) ? (HttpStatusCode)i : HttpStatusCode.InternalServerError;
                throw KubeApiException.FromStatus(code, obj);
            }

            obj["apiVersion"] ??= type.ApiVersion;
            obj["kind"] ??= type.Kind;
            yield return new WatchEvent(eventType, obj);
        }
    }

    private async Task<JsonObject> SendAsync(HttpMethod method, string path, JsonObject? body, string? contentType, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType ?? "application/json");
        }

        Counters.Count(method.Method);
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, ct).ConfigureAwait(false);
        }

        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        return text.Length == 0 ? [] : JsonNode.Parse(text) as JsonObject ?? [];
    }

    private static async Task<KubeApiException> ErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        JsonNode? status = null;
        try
        {
            status = text.Length > 0 ? JsonNode.Parse(text) : null;
        }
        catch (JsonException)
        {
            status = new JsonObject { ["message"] = text.Length > 200 ? text[..200] : text };
        }

        return KubeApiException.FromStatus(response.StatusCode, status);
    }

    private static string Query(params (string Name, string? Value)[] parameters)
    {
        var parts = parameters.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }

    public void Dispose() => _http.Dispose();
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
