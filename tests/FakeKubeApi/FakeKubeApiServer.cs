using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BulkExport.FakeKubeApi;

public sealed class FakeKubeApiOptions
{
    /// <summary>How often an idle watch that asked for bookmarks gets one.</summary>
    public TimeSpan BookmarkInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Watch events kept for resuming; older resourceVersions get 410 Gone.</summary>
    public int HistoryLimit { get; init; } = 200_000;
}

/// <summary>
/// An in-process Kubernetes API server for tests: Kestrel on 127.0.0.1 with a random port, speaking
/// the REST conventions the operator relies on. It keeps one resourceVersion sequence, answers 404,
/// 409 (AlreadyExists and Conflict) and 410 (expired watch) as a real server does, frames watch
/// events as newline-delimited JSON with bookmarks, filters by label selector, separates the status
/// subresource, applies server-side defaults and cascades deletes along ownerReferences.
/// Faults (conflicts, failures, closed streams, compaction) are injected through methods.
/// </summary>
public sealed class FakeKubeApiServer : IAsyncDisposable
{
    private static readonly HashSet<string> WithStatusSubresource = ["exportschedules", "cronjobs", "jobs", "pods"];
    private static readonly Dictionary<string, (string ApiVersion, string Kind)> Kinds = new()
    {
        ["exportschedules"] = ("bulkexport.io/v1alpha1", "ExportSchedule"),
        ["cronjobs"] = ("batch/v1", "CronJob"),
        ["jobs"] = ("batch/v1", "Job"),
        ["pods"] = ("v1", "Pod"),
        ["configmaps"] = ("v1", "ConfigMap"),
        ["secrets"] = ("v1", "Secret"),
        ["events"] = ("v1", "Event"),
        ["leases"] = ("coordination.k8s.io/v1", "Lease"),
    };

    private readonly object _lock = new();
    private readonly Dictionary<string, Dictionary<string, JsonObject>> _objects = [];
    /// <summary>The uids of every stored object, for the garbage collector's "does the owner exist": a scan of all objects per create made the fake quadratic.</summary>
    private readonly HashSet<string> _uids = [];
    private readonly LinkedList<Change> _history = new();
    private readonly List<Watcher> _watchers = [];
    private readonly Dictionary<string, int> _conflicts = [];
    private readonly HashSet<string> _forbidden = [];
    private readonly Dictionary<string, long> _requests = [];
    private readonly List<(string Verb, string Plural, JsonObject Body)> _writes = [];
    private readonly FakeKubeApiOptions _options;
    private readonly WebApplication _app;
    private JsonObject? _lastSerialized;
    private string _lastJson = "";
    private long _rv = 100;
    private long _expiredThrough;
    private int _failNext;
    private long _pages;
    private TaskCompletionSource? _hang;
    private TaskCompletionSource? _watchLag;
    private TaskCompletionSource? _answersHeld;
    private string? _answersHeldFor;
    private int _heldAnswers;
    private HttpStatusCode _failCode;

    private FakeKubeApiServer(FakeKubeApiOptions options, WebApplication app)
    {
        _options = options;
        _app = app;
    }

    public Uri Url { get; private set; } = null!;

    public static async Task<FakeKubeApiServer> StartAsync(FakeKubeApiOptions? options = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new FakeKubeApiServer(options ?? new FakeKubeApiOptions(), app);
        app.Run(server.HandleAsync);
        await app.StartAsync().ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.Url = new Uri(address.EndsWith('/') ? address : address + "/");
        return server;
    }

    public long CurrentResourceVersion
    {
        get
        {
            lock (_lock)
            {
                return _rv;
            }
        }
    }

    // ---- direct access for tests (no HTTP, not counted as client writes) ----

    public JsonObject Create(string plural, JsonObject obj)
    {
        lock (_lock)
        {
            return CreateLocked(plural, (JsonObject)obj.DeepClone()).DeepClone().AsObject();
        }
    }

    public JsonObject? Get(string plural, string? ns, string name)
    {
        lock (_lock)
        {
            return Table(plural).TryGetValue(Key(ns, name), out var obj) ? obj.DeepClone().AsObject() : null;
        }
    }

    public IReadOnlyList<JsonObject> List(string plural, string? ns = null, string? labelSelector = null)
    {
        var selector = LabelSelector.Parse(labelSelector);
        lock (_lock)
        {
            return [.. Table(plural).Values.Where(o => (ns is null || Ns(o) == ns) && selector.Matches(o)).Select(o => o.DeepClone().AsObject())];
        }
    }

    /// <summary>Mutates an object as another client would (no resourceVersion check); bumps the version.</summary>
    public JsonObject Mutate(string plural, string? ns, string name, Action<JsonObject> change, bool status = false)
    {
        lock (_lock)
        {
            var current = Table(plural)[Key(ns, name)];
            var next = (JsonObject)current.DeepClone();
            change(next);
            return StoreUpdateLocked(plural, current, next, status).DeepClone().AsObject();
        }
    }

    public bool Delete(string plural, string? ns, string name)
    {
        lock (_lock)
        {
            return DeleteLocked(plural, Key(ns, name));
        }
    }

    // ---- fault injection and observation ----

    /// <summary>The next <paramref name="count"/> updates of <paramref name="plural"/> race another writer and get 409.</summary>
    public void InjectConflicts(string plural, int count)
    {
        lock (_lock)
        {
            _conflicts[plural] = count;
        }
    }

    /// <summary>The next <paramref name="count"/> non-watch requests fail with <paramref name="code"/>.</summary>
    public void FailNextRequests(int count, HttpStatusCode code = HttpStatusCode.ServiceUnavailable)
    {
        lock (_lock)
        {
            _failNext = count;
            _failCode = code;
        }
    }

    /// <summary>Answers 403 Forbidden to every "VERB plural" request listed (e.g. "GET secrets"), as RBAC would.</summary>
    public void Forbid(string verbAndPlural)
    {
        lock (_lock)
        {
            _forbidden.Add(verbAndPlural);
        }
    }

    /// <summary>List pages served (a list without limit is one page).</summary>
    public long ListPages
    {
        get
        {
            lock (_lock)
            {
                return _pages;
            }
        }
    }

    /// <summary>
    /// Until <see cref="Resume"/>, every new request gets no answer at all: the connection stays open
    /// and silent, as with an overloaded API server or a black-holed network path.
    /// </summary>
    public void Hang()
    {
        lock (_lock)
        {
            _hang ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void Resume()
    {
        TaskCompletionSource? hang;
        lock (_lock)
        {
            (hang, _hang) = (_hang, null);
        }

        hang?.TrySetResult();
    }

    /// <summary>
    /// Until <see cref="DeliverWatches"/>, watch streams send nothing (no events, no bookmarks) while
    /// writes are answered: the real server's watch cache is fed from etcd after the write is
    /// committed, so a client can hold a write's answer before the events that precede it.
    /// </summary>
    public void LagWatches()
    {
        lock (_lock)
        {
            _watchLag ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Lets the lagging watch streams send what they hold, in order.</summary>
    public void DeliverWatches()
    {
        TaskCompletionSource? lag;
        lock (_lock)
        {
            (lag, _watchLag) = (_watchLag, null);
        }

        lag?.TrySetResult();
    }

    /// <summary>
    /// Until <see cref="ReleaseAnswers"/>, requests "VERB plural" (e.g. "GET configmaps") are served
    /// at once but their answers wait on the wire, as a large list's does: what they say is the
    /// state when they were served.
    /// </summary>
    public void HoldAnswers(string verbAndPlural)
    {
        lock (_lock)
        {
            _answersHeld ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _answersHeldFor = verbAndPlural;
        }
    }

    /// <summary>Answers served and waiting since <see cref="HoldAnswers"/>.</summary>
    public int HeldAnswers
    {
        get
        {
            lock (_lock)
            {
                return _heldAnswers;
            }
        }
    }

    public void ReleaseAnswers()
    {
        TaskCompletionSource? held;
        lock (_lock)
        {
            (held, _answersHeld, _answersHeldFor, _heldAnswers) = (_answersHeld, null, null, 0);
        }

        held?.TrySetResult();
    }

    /// <summary>Ends every open watch stream, as an API server restart or a load balancer timeout does.</summary>
    public void CloseWatches()
    {
        lock (_lock)
        {
            foreach (var w in _watchers)
            {
                w.Channel.Writer.TryComplete();
            }

            _watchers.Clear();
        }
    }

    /// <summary>Forgets the event history: any watch resuming from a version up to now gets 410 Gone.</summary>
    public void Compact()
    {
        lock (_lock)
        {
            _history.Clear();
            _expiredThrough = _rv;
        }
    }

    public int Count(string plural)
    {
        lock (_lock)
        {
            return Table(plural).Count;
        }
    }

    public int OpenWatches
    {
        get
        {
            lock (_lock)
            {
                return _watchers.Count;
            }
        }
    }

    /// <summary>Requests by "VERB plural" (watches as "WATCH plural").</summary>
    public IReadOnlyDictionary<string, long> Requests
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, long>(_requests);
            }
        }
    }

    public long WriteRequests
    {
        get
        {
            lock (_lock)
            {
                return _requests.Where(kv => kv.Key.StartsWith("POST", StringComparison.Ordinal) || kv.Key.StartsWith("PUT", StringComparison.Ordinal)
                    || kv.Key.StartsWith("PATCH", StringComparison.Ordinal) || kv.Key.StartsWith("DELETE", StringComparison.Ordinal)).Sum(kv => kv.Value);
            }
        }
    }

    public void ResetCounters()
    {
        lock (_lock)
        {
            _requests.Clear();
        }
    }

    /// <summary>Every object written through HTTP: the body for create and update, the result for patches.</summary>
    public IReadOnlyList<(string Verb, string Plural, JsonObject Body)> Writes
    {
        get
        {
            lock (_lock)
            {
                return [.. _writes];
            }
        }
    }

    public bool RecordWrites { get; set; } = true;

    /// <summary>Runs on every stored write after defaulting, like a mutating admission webhook.</summary>
    public Action<string, JsonObject>? Admission { get; set; }

    // ---- HTTP ----

    private async Task HandleAsync(HttpContext ctx)
    {
        var route = Route.Parse(ctx.Request.Path.Value ?? "");
        if (route is null)
        {
            await WriteStatusAsync(ctx, HttpStatusCode.NotFound, "NotFound", $"the server could not find the requested resource ({ctx.Request.Path})").ConfigureAwait(false);
            return;
        }

        var watch = ctx.Request.Query["watch"] is var w && (w == "true" || w == "1");
        var verb = watch ? "WATCH" : ctx.Request.Method;
        Task? hung;
        lock (_lock)
        {
            hung = _hang?.Task;
        }

        if (hung is not null)
        {
            // Silent until resumed or the client gives up; then the request is dropped unanswered.
            await Task.WhenAny(hung, Task.Delay(Timeout.Infinite, ctx.RequestAborted)).ConfigureAwait(false);
            ctx.Abort();
            return;
        }

        HttpStatusCode? injected = null;
        lock (_lock)
        {
            var counter = $"{verb} {route.Plural}";
            _requests[counter] = _requests.GetValueOrDefault(counter) + 1;
            if (_forbidden.Contains(counter))
            {
                injected = HttpStatusCode.Forbidden;
            }
            else if (!watch && _failNext > 0)
            {
                _failNext--;
                injected = _failCode;
            }
        }

        if (injected is { } failure)
        {
            await WriteStatusAsync(ctx, failure, failure.ToString(), "injected failure").ConfigureAwait(false);
            return;
        }

        if (watch)
        {
            await WatchAsync(ctx, route).ConfigureAwait(false);
            return;
        }

        JsonObject? body = null;
        if (ctx.Request.ContentLength is > 0 || ctx.Request.Method is "POST" or "PUT" or "PATCH")
        {
            // Parsed from the UTF-8 bytes as they came, without a string in between.
            using var buffer = new MemoryStream(ctx.Request.ContentLength is { } length and > 0 and < int.MaxValue ? (int)length : 4096);
            await ctx.Request.Body.CopyToAsync(buffer, ctx.RequestAborted).ConfigureAwait(false);
            body = buffer.Length == 0 ? null : JsonNode.Parse(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)) as JsonObject;
        }

        Result result;
        string answer;
        Task? held = null;
        lock (_lock)
        {
            result = Dispatch(ctx.Request.Method, route, body, ctx.Request.Query, ctx.Request.ContentType);
            // Bodies may be stored objects: serialized under the lock instead of copied, and a write's
            // answer is the text its watch events carry (serialized once, as the real server's watch
            // cache serializes an object once for all watchers).
            answer = Json(result.Body);
            if (_answersHeld is not null && _answersHeldFor == $"{verb} {route.Plural}")
            {
                held = _answersHeld.Task;
                _heldAnswers++;
            }
        }

        if (held is not null)
        {
            await held.WaitAsync(ctx.RequestAborted).ConfigureAwait(false);
        }

        ctx.Response.StatusCode = (int)result.Code;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(answer, ctx.RequestAborted).ConfigureAwait(false);
    }

    private sealed record Result(HttpStatusCode Code, JsonObject Body);

    private Result Dispatch(string method, Route route, JsonObject? body, IQueryCollection query, string? contentType)
    {
        try
        {
            switch (method)
            {
                case "GET" when route.Name is null:
                    return new Result(HttpStatusCode.OK, ListLocked(route, query["labelSelector"], query["limit"], query["continue"]));
                case "GET":
                    return new Result(HttpStatusCode.OK, Existing(route));
                case "POST" when route.Name is null && route.Namespace is not null && body is not null:
                    {
                        body.Metadata()["namespace"] ??= route.Namespace;
                        if (body.Metadata()["resourceVersion"] is not null)
                        {
                            throw new ApiError(HttpStatusCode.BadRequest, "BadRequest", "resourceVersion should not be set on objects to be created");
                        }

                        // The body was parsed for this request alone: stored as it is, not copied.
                        var sent = RecordWrites ? (JsonObject)body.DeepClone() : null;
                        var created = CreateLocked(route.Plural, body);
                        Record("POST", route.Plural, sent);
                        return new Result(HttpStatusCode.Created, created);
                    }

                case "PUT" when route.Name is not null && body is not null:
                    {
                        var current = Existing(route);
                        if (route.Name != body.Name())
                        {
                            throw new ApiError(HttpStatusCode.BadRequest, "BadRequest", "the name of the object does not match the name on the URL");
                        }

                        var rv = (string?)body["metadata"]?["resourceVersion"];
                        if (string.IsNullOrEmpty(rv))
                        {
                            throw new ApiError(HttpStatusCode.UnprocessableEntity, "Invalid", "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update");
                        }

                        RaceIfInjected(route.Plural, current);
                        current = Existing(route);
                        if (rv != current.ResourceVersionOf())
                        {
                            throw Conflict(route);
                        }

                        var sent = RecordWrites ? (JsonObject)body.DeepClone() : null;
                        var updated = StoreUpdateLocked(route.Plural, current, body, route.Status);
                        Record("PUT", route.Plural, sent);
                        return new Result(HttpStatusCode.OK, updated);
                    }

                case "PATCH" when route.Name is not null && body is not null:
                    {
                        if (contentType?.StartsWith("application/merge-patch+json", StringComparison.Ordinal) != true)
                        {
                            throw new ApiError(HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType", $"the fake supports only merge patches, got {contentType}");
                        }

                        var current = Existing(route);
                        RaceIfInjected(route.Plural, current);
                        current = Existing(route);
                        if ((string?)body["metadata"]?["resourceVersion"] is { } rv && rv != current.ResourceVersionOf())
                        {
                            throw Conflict(route);
                        }

                        JsonObject next;
                        if (route.Status && WithStatusSubresource.Contains(route.Plural))
                        {
                            // The status subresource takes only the patch's status (the rest is
                            // ignored, as the real server does), so only the status is copied here.
                            var status = current["status"]?.DeepClone();
                            if (body.TryGetPropertyValue("status", out var patchStatus))
                            {
                                if (patchStatus is JsonObject ps && status is JsonObject target)
                                {
                                    MergePatch(target, ps);
                                }
                                else
                                {
                                    // Null deletes; anything else replaces.
                                    status = patchStatus?.DeepClone();
                                }
                            }

                            next = new JsonObject { ["status"] = status };
                        }
                        else
                        {
                            next = (JsonObject)current.DeepClone();
                            MergePatch(next, body);
                            next.Metadata()["resourceVersion"] = current.ResourceVersionOf();
                        }

                        var updated = StoreUpdateLocked(route.Plural, current, next, route.Status);
                        Record("PATCH", route.Plural, RecordWrites ? (JsonObject)updated.DeepClone() : null);
                        return new Result(HttpStatusCode.OK, updated);
                    }

                case "DELETE" when route.Name is not null:
                    {
                        Existing(route);
                        DeleteLocked(route.Plural, Key(route.Namespace, route.Name));
                        return new Result(HttpStatusCode.OK, StatusBody(HttpStatusCode.OK, "", "Success"));
                    }

                default:
                    throw new ApiError(HttpStatusCode.MethodNotAllowed, "MethodNotAllowed", $"{method} is not supported on {route}");
            }
        }
        catch (ApiError e)
        {
            return new Result(e.Code, StatusBody(e.Code, e.Reason, e.Message));
        }
    }

    /// <summary>Keeps a copy of a write (taken before the store changed it), when <see cref="RecordWrites"/> is on.</summary>
    private void Record(string verb, string plural, JsonObject? copy)
    {
        if (copy is not null)
        {
            _writes.Add((verb, plural, copy));
        }
    }

    private void RaceIfInjected(string plural, JsonObject current)
    {
        if (_conflicts.TryGetValue(plural, out var n) && n > 0)
        {
            _conflicts[plural] = n - 1;
            var next = (JsonObject)current.DeepClone();
            var annotations = next.Metadata()["annotations"] as JsonObject ?? [];
            annotations["fake.k8s.io/racing-writer"] = (_rv + 1).ToString(CultureInfo.InvariantCulture);
            next.Metadata()["annotations"] = annotations;
            StoreUpdateLocked(plural, current, next, status: false);
        }
    }

    private static ApiError Conflict(Route route) => new(HttpStatusCode.Conflict, "Conflict",
        $"Operation cannot be fulfilled on {route.Plural} \"{route.Name}\": the object has been modified; please apply your changes to the latest version and try again");

    private JsonObject Existing(Route route) =>
        Table(route.Plural).TryGetValue(Key(route.Namespace, route.Name!), out var obj)
            ? obj
            : throw new ApiError(HttpStatusCode.NotFound, "NotFound", $"{route.Plural} \"{route.Name}\" not found");

    /// <summary>
    /// A list, in pages when the client sends <c>limit</c>: <c>metadata.continue</c> names where the
    /// next page starts and every page reports the first page's resourceVersion, as a real server's
    /// pages share one snapshot (the fake reads later pages from the current state, keyed after the
    /// last item, which is what a client resuming a watch from that version needs).
    /// </summary>
    private JsonObject ListLocked(Route route, string? labelSelector, string? limitText = null, string? continueToken = null)
    {
        var selector = LabelSelector.Parse(labelSelector);
        var items = new JsonArray();
        var listVersion = _rv.ToString(CultureInfo.InvariantCulture);
        string? after = null;
        if (!string.IsNullOrEmpty(continueToken))
        {
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(continueToken)).Split('\n', 2);
            if (parts.Length != 2 || !long.TryParse(parts[0], out var tokenVersion))
            {
                throw new ApiError(HttpStatusCode.BadRequest, "BadRequest", "invalid continue token");
            }

            if (tokenVersion <= _expiredThrough)
            {
                throw new ApiError(HttpStatusCode.Gone, "Expired", "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.");
            }

            (listVersion, after) = (parts[0], parts[1]);
        }

        var limit = int.TryParse(limitText, out var l) && l > 0 ? l : int.MaxValue;
        var matching = Table(route.Plural).Values
            .Where(o => (route.Namespace is null || Ns(o) == route.Namespace) && selector.Matches(o))
            .Where(o => after is null || string.CompareOrdinal(o.Key(), after) > 0)
            .OrderBy(o => o.Key(), StringComparer.Ordinal)
            .ToList();
        string? next = null;
        if (matching.Count > limit)
        {
            matching = matching[..limit];
            next = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{listVersion}\n{matching[^1].Key()}"));
        }

        _pages++;
        foreach (var obj in matching)
        {
            var copy = obj.DeepClone().AsObject();
            // Like a real server, list items carry no apiVersion/kind; the list does.
            copy.Remove("apiVersion");
            copy.Remove("kind");
            items.Add(copy);
        }

        var kind = Kinds.TryGetValue(route.Plural, out var k) ? k : (ApiVersion: "v1", Kind: "Unknown");
        return new JsonObject
        {
            ["apiVersion"] = kind.ApiVersion,
            ["kind"] = kind.Kind + "List",
            ["metadata"] = next is null
                ? new JsonObject { ["resourceVersion"] = listVersion }
                : new JsonObject { ["resourceVersion"] = listVersion, ["continue"] = next },
            ["items"] = items,
        };
    }

    private JsonObject CreateLocked(string plural, JsonObject obj)
    {
        var meta = obj.Metadata();
        if (string.IsNullOrEmpty((string?)meta["name"]) && (string?)meta["generateName"] is { } prefix)
        {
            meta["name"] = prefix + Guid.NewGuid().ToString("N")[..5];
        }

        var name = (string?)meta["name"];
        if (string.IsNullOrEmpty(name))
        {
            throw new ApiError(HttpStatusCode.UnprocessableEntity, "Invalid", "metadata.name: Required value: name or generateName is required");
        }

        var key = Key(Ns(obj), name);
        var table = Table(plural);
        if (table.ContainsKey(key))
        {
            throw new ApiError(HttpStatusCode.Conflict, "AlreadyExists", $"{plural} \"{name}\" already exists");
        }

        if (Kinds.TryGetValue(plural, out var kind))
        {
            obj["apiVersion"] = kind.ApiVersion;
            obj["kind"] = kind.Kind;
        }

        meta["uid"] = Guid.NewGuid().ToString();
        meta["creationTimestamp"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        if (WithStatusSubresource.Contains(plural))
        {
            meta["generation"] = 1;
        }

        Defaults.Apply(plural, obj);
        Admission?.Invoke(plural, obj);
        Validate(plural, obj);
        meta["resourceVersion"] = (++_rv).ToString(CultureInfo.InvariantCulture);
        table[key] = obj;
        _uids.Add(obj.Uid()!);
        Publish(new Change(_rv, plural, "ADDED", null, obj));
        if (Owners(obj).Any() && !Owners(obj).Any(u => u is not null && _uids.Contains(u)))
        {
            // Garbage collection of an object created for an owner already gone (a write racing the
            // owner's deletion): the real collector removes it soon after; the fake at once.
            DeleteLocked(plural, key);
        }

        return obj;
    }

    private static void Validate(string plural, JsonObject obj)
    {
        if (Validation.Validate(plural, obj) is { Count: > 0 } errors)
        {
            var (apiVersion, kind) = Kinds.TryGetValue(plural, out var k) ? k : ("v1", plural);
            var group = apiVersion.Contains('/', StringComparison.Ordinal) ? "." + apiVersion[..apiVersion.IndexOf('/', StringComparison.Ordinal)] : "";
            var causes = errors.Count == 1 ? errors[0] : $"[{string.Join(", ", errors)}]";
            throw new ApiError(HttpStatusCode.UnprocessableEntity, "Invalid", $"{kind}{group} \"{obj.Name()}\" is invalid: {causes}");
        }
    }

    private JsonObject StoreUpdateLocked(string plural, JsonObject current, JsonObject next, bool status)
    {
        if (WithStatusSubresource.Contains(plural))
        {
            if (status)
            {
                // The status subresource changes status only. The new object is ours (a parsed body or
                // a copy), so its status moves over instead of being copied.
                var merged = (JsonObject)current.DeepClone();
                var newStatus = next["status"];
                next.Remove("status");
                merged["status"] = newStatus;
                next = merged;
            }
            else
            {
                // The main resource ignores status; spec changes bump the generation.
                next["status"] = current["status"]?.DeepClone();
                var generation = long.TryParse(current["metadata"]?["generation"]?.ToJsonString(), out var g) ? g : 1;
                Defaults.Apply(plural, next);
                if (!JsonNode.DeepEquals(current["spec"], next["spec"]))
                {
                    generation++;
                }

                next.Metadata()["generation"] = generation;
            }
        }
        else
        {
            Defaults.Apply(plural, next);
        }

        if (!status)
        {
            Admission?.Invoke(plural, next);
            Validate(plural, next);
        }

        // Immutable metadata stays as the server set it.
        var meta = next.Metadata();
        var old = current.Metadata();
        meta["uid"] = old["uid"]?.DeepClone();
        meta["creationTimestamp"] = old["creationTimestamp"]?.DeepClone();
        meta["namespace"] = old["namespace"]?.DeepClone();
        if (Kinds.TryGetValue(plural, out var kind))
        {
            next["apiVersion"] = kind.ApiVersion;
            next["kind"] = kind.Kind;
        }

        if (EqualButVersion(current, next))
        {
            // A no-op update does not change the resourceVersion and emits no event.
            return current;
        }

        meta["resourceVersion"] = (++_rv).ToString(CultureInfo.InvariantCulture);
        Table(plural)[Key(Ns(next), next.Name())] = next;
        Publish(new Change(_rv, plural, "MODIFIED", current, next));
        return next;
    }

    /// <summary>Equal apart from metadata.resourceVersion (compared in place: copying both objects per update was most of an update's cost).</summary>
    private static bool EqualButVersion(JsonObject a, JsonObject b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var (key, value) in a)
        {
            if (!b.TryGetPropertyValue(key, out var other))
            {
                return false;
            }

            if (key == "metadata" && value is JsonObject ma && other is JsonObject mb)
            {
                var countA = ma.Count - (ma.ContainsKey("resourceVersion") ? 1 : 0);
                var countB = mb.Count - (mb.ContainsKey("resourceVersion") ? 1 : 0);
                if (countA != countB || ma.Any(kv => kv.Key != "resourceVersion" && (!mb.TryGetPropertyValue(kv.Key, out var m) || !JsonNode.DeepEquals(kv.Value, m))))
                {
                    return false;
                }
            }
            else if (!JsonNode.DeepEquals(value, other))
            {
                return false;
            }
        }

        return true;
    }

    private bool DeleteLocked(string plural, string key)
    {
        if (!Table(plural).Remove(key, out var gone))
        {
            return false;
        }

        _uids.Remove(gone.Uid() ?? "");
        gone = (JsonObject)gone.DeepClone();
        gone.Metadata()["resourceVersion"] = (++_rv).ToString(CultureInfo.InvariantCulture);
        Publish(new Change(_rv, plural, "DELETED", gone, null));

        // Garbage collection: dependents whose owners are all gone are deleted too (background propagation).
        var uid = gone.Uid();
        foreach (var (depPlural, table) in _objects.ToList())
        {
            foreach (var dep in table.Values.Where(o => Owners(o).Contains(uid)).ToList())
            {
                var remaining = Owners(dep).Where(u => u != uid && u is not null && _uids.Contains(u));
                if (!remaining.Any())
                {
                    DeleteLocked(depPlural, Key(Ns(dep), dep.Name()));
                }
            }
        }

        return true;
    }

    private static IEnumerable<string?> Owners(JsonObject obj) =>
        (obj["metadata"]?["ownerReferences"] as JsonArray ?? []).Select(r => (string?)r?["uid"]);

    private static void MergePatch(JsonObject target, JsonObject patch)
    {
        foreach (var (key, value) in patch)
        {
            if (value is null)
            {
                target.Remove(key);
            }
            else if (value is JsonObject patchChild && target[key] is JsonObject targetChild)
            {
                MergePatch(targetChild, patchChild);
            }
            else
            {
                target[key] = value.DeepClone();
            }
        }
    }

    // ---- watches ----

    private sealed record Change(long ResourceVersion, string Plural, string Type, JsonObject? Old, JsonObject? New);

    private sealed class Watcher(string plural, string? ns, LabelSelector selector)
    {
        public string Plural { get; } = plural;
        public string? Namespace { get; } = ns;
        public LabelSelector Selector { get; } = selector;
        public Channel<string> Channel { get; } = System.Threading.Channels.Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    }

    private void Publish(Change change)
    {
        _history.AddLast(change);
        while (_history.Count > _options.HistoryLimit)
        {
            _expiredThrough = _history.First!.Value.ResourceVersion;
            _history.RemoveFirst();
        }

        foreach (var w in _watchers)
        {
            if (Frame(w, change) is { } line)
            {
                w.Channel.Writer.TryWrite(line);
            }
        }
    }

    /// <summary>What a watcher sees of a change: selectors turn moves in and out of the set into ADDED and DELETED.</summary>
    /// <summary>
    /// The JSON text of an object, reusing the last one serialized: a write's watch events and its
    /// answer carry the same stored object, which is replaced on change and never mutated in place.
    /// Call under the lock.
    /// </summary>
    private string Json(JsonObject obj)
    {
        if (!ReferenceEquals(obj, _lastSerialized))
        {
            (_lastSerialized, _lastJson) = (obj, obj.ToJsonString());
        }

        return _lastJson;
    }

    private string? Frame(Watcher w, Change c)
    {
        if (w.Plural != c.Plural)
        {
            return null;
        }

        var obj = c.New ?? c.Old!;
        if (w.Namespace is not null && Ns(obj) != w.Namespace)
        {
            return null;
        }

        var oldMatch = c.Old is not null && w.Selector.Matches(c.Old);
        var newMatch = c.New is not null && w.Selector.Matches(c.New);
        string? type = (c.Type, oldMatch, newMatch) switch
        {
            ("ADDED", _, true) => "ADDED",
            ("MODIFIED", true, true) => "MODIFIED",
            ("MODIFIED", false, true) => "ADDED",
            ("MODIFIED", true, false) => "DELETED",
            ("DELETED", true, _) => "DELETED",
            _ => null,
        };
        if (type is null)
        {
            return null;
        }

        var sent = obj;
        if (type == "DELETED" && c.Type == "MODIFIED")
        {
            sent = (JsonObject)obj.DeepClone();
            sent.Metadata()["resourceVersion"] = c.ResourceVersion.ToString(CultureInfo.InvariantCulture);
        }

        // Serialized in place under the lock (stored objects are replaced, never changed), as the
        // real server serializes an event once: a copy per event was the fake's cost, not the watch's.
        return $"{{\"type\":\"{type}\",\"object\":{(ReferenceEquals(sent, obj) ? Json(obj) : sent.ToJsonString())}}}";
    }

    private async Task WatchAsync(HttpContext ctx, Route route)
    {
        var q = ctx.Request.Query;
        var bookmarks = q["allowWatchBookmarks"] == "true";
        var timeout = int.TryParse(q["timeoutSeconds"], out var t) && t > 0 ? TimeSpan.FromSeconds(t) : TimeSpan.FromMinutes(30);
        var watcher = new Watcher(route.Plural, route.Namespace, LabelSelector.Parse(q["labelSelector"]));
        string? rvText = q["resourceVersion"];
        string? expired = null;
        lock (_lock)
        {
            if (string.IsNullOrEmpty(rvText) || rvText == "0")
            {
                // No version: the current state as ADDED events, then changes.
                foreach (var obj in Table(route.Plural).Values.OrderBy(o => o.Key()))
                {
                    if (Frame(watcher, new Change(_rv, route.Plural, "ADDED", null, obj)) is { } line)
                    {
                        watcher.Channel.Writer.TryWrite(line);
                    }
                }
            }
            else if (!long.TryParse(rvText, out var from) || from <= _expiredThrough)
            {
                expired = $"too old resource version: {rvText} ({_expiredThrough + 1})";
            }
            else
            {
                foreach (var change in _history.Where(c => c.ResourceVersion > from))
                {
                    if (Frame(watcher, change) is { } line)
                    {
                        watcher.Channel.Writer.TryWrite(line);
                    }
                }
            }

            if (expired is null)
            {
                _watchers.Add(watcher);
            }
        }

        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        if (expired is not null)
        {
            // As the real server: 200, then one ERROR event carrying a 410 Status.
            var error = new JsonObject { ["type"] = "ERROR", ["object"] = StatusBody(HttpStatusCode.Gone, "Expired", expired) };
            await ctx.Response.WriteAsync(error.ToJsonString() + "\n", ctx.RequestAborted).ConfigureAwait(false);
            return;
        }

        await ctx.Response.Body.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        deadline.CancelAfter(timeout);
        try
        {
            var reader = watcher.Channel.Reader;
            while (true)
            {
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                tick.CancelAfter(_options.BookmarkInterval);
                bool more;
                var idle = false;
                try
                {
                    more = await reader.WaitToReadAsync(tick.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!deadline.IsCancellationRequested)
                {
                    (more, idle) = (true, true);
                }

                if (!more)
                {
                    return;
                }

                // Whether the watch lags is decided together with taking the events, under the lock
                // writes publish under: what a lagging watch holds back is exactly what came after.
                Task? lag;
                var sb = new StringBuilder();
                lock (_lock)
                {
                    lag = _watchLag?.Task;
                    while (lag is null && !idle && reader.TryRead(out var line))
                    {
                        sb.Append(line).Append('\n');
                    }
                }

                if (lag is not null)
                {
                    await lag.WaitAsync(deadline.Token).ConfigureAwait(false);
                    continue;
                }

                if (idle)
                {
                    if (bookmarks && BookmarkLine(route.Plural, reader) is { } bookmark)
                    {
                        await WriteLineAsync(ctx, bookmark, deadline.Token).ConfigureAwait(false);
                    }

                    continue;
                }

                await ctx.Response.WriteAsync(sb.ToString(), deadline.Token).ConfigureAwait(false);
                await ctx.Response.Body.FlushAsync(deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Timeout or client gone: end the stream.
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(watcher);
            }
        }
    }

    /// <summary>A bookmark at the current version, or null while events wait to be sent (a bookmark must not pass them).</summary>
    private string? BookmarkLine(string plural, ChannelReader<string> pending)
    {
        var kind = Kinds.TryGetValue(plural, out var k) ? k : (ApiVersion: "v1", Kind: "Unknown");
        long rv;
        lock (_lock)
        {
            if (pending.TryPeek(out _))
            {
                return null;
            }

            rv = _rv;
        }

        return new JsonObject
        {
            ["type"] = "BOOKMARK",
            ["object"] = new JsonObject
            {
                ["apiVersion"] = kind.ApiVersion,
                ["kind"] = kind.Kind,
                ["metadata"] = new JsonObject { ["resourceVersion"] = rv.ToString(CultureInfo.InvariantCulture) },
            },
        }.ToJsonString();
    }

    private static async Task WriteLineAsync(HttpContext ctx, string line, CancellationToken ct)
    {
        await ctx.Response.WriteAsync(line + "\n", ct).ConfigureAwait(false);
        await ctx.Response.Body.FlushAsync(ct).ConfigureAwait(false);
    }

    // ---- helpers ----

    private Dictionary<string, JsonObject> Table(string plural)
    {
        if (!_objects.TryGetValue(plural, out var table))
        {
            table = [];
            _objects[plural] = table;
        }

        return table;
    }

    private static string? Ns(JsonObject obj) => (string?)obj["metadata"]?["namespace"];

    private static string Key(string? ns, string name) => $"{ns}/{name}";

    private static JsonObject StatusBody(HttpStatusCode code, string reason, string message) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = code is HttpStatusCode.OK ? "Success" : "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = (int)code,
    };

    private static async Task WriteStatusAsync(HttpContext ctx, HttpStatusCode code, string reason, string message)
    {
        ctx.Response.StatusCode = (int)code;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(StatusBody(code, reason, message).ToJsonString()).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        CloseWatches();
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class ApiError(HttpStatusCode code, string reason, string message) : Exception(message)
    {
        public HttpStatusCode Code { get; } = code;
        public string Reason { get; } = reason;
    }

    private sealed record Route(string Plural, string? Namespace, string? Name, bool Status)
    {
        /// <summary>Null unless the path names a served group/version and a kind of it, as a real server answers 404 otherwise.</summary>
        public static Route? Parse(string path)
        {
            var s = path.Trim('/').Split('/').Select(Uri.UnescapeDataString).ToArray();
            int i;
            string apiVersion;
            if (s.Length >= 2 && s[0] == "api")
            {
                (i, apiVersion) = (2, s[1]);
            }
            else if (s.Length >= 3 && s[0] == "apis")
            {
                (i, apiVersion) = (3, $"{s[1]}/{s[2]}");
            }
            else
            {
                return null;
            }

            var rest = s[i..];
            var route = rest switch
            {
                [var plural] => new Route(plural, null, null, false),
                ["namespaces", var ns, var plural] => new Route(plural, ns, null, false),
                ["namespaces", var ns, var plural, var name] => new Route(plural, ns, name, false),
                ["namespaces", var ns, var plural, var name, "status"] => new Route(plural, ns, name, true),
                _ => null,
            };
            return route is not null && Kinds.TryGetValue(route.Plural, out var kind) && kind.ApiVersion == apiVersion ? route : null;
        }

        public override string ToString() => $"{Plural} {Namespace}/{Name}";
    }
}

internal static class JsonExtensions
{
    public static JsonObject Metadata(this JsonObject obj)
    {
        if (obj["metadata"] is not JsonObject m)
        {
            m = [];
            obj["metadata"] = m;
        }

        return m;
    }

    public static string Name(this JsonObject obj) => (string?)obj["metadata"]?["name"] ?? "";
    public static string? Uid(this JsonObject obj) => (string?)obj["metadata"]?["uid"];
    public static string? ResourceVersionOf(this JsonObject obj) => (string?)obj["metadata"]?["resourceVersion"];
    public static string Key(this JsonObject obj) => $"{(string?)obj["metadata"]?["namespace"]}/{obj.Name()}";
}
