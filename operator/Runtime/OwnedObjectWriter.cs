using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using BulkExport.Operator.Kubernetes;
using Microsoft.Extensions.Logging;

namespace BulkExport.Operator.Runtime;

/// <summary>Why an owned object could not be written: not retried, reported (Ready=False) until something changes.</summary>
internal sealed record WriteRefusal(string Reason, string Message);

/// <summary>
/// Creates and repairs the objects a reconciler owns, against the informer cache: compares the
/// desired fields (<see cref="Drift"/>), writes only what differs, re-reads on conflict, reports a
/// 422 or someone else's controller reference instead of retrying, and remembers its own writes so
/// their watch echoes (and a server that rewrites a field) cause no further reconcile or write.
/// </summary>
internal sealed partial class OwnedObjectWriter(KubeApiClient client, ILogger logger)
{
    private const int MaxWriteAttempts = 6;
    private readonly KubeApiClient _client = client;
    private readonly ILogger _logger = logger;
    private readonly ConcurrentDictionary<string, (string Version, string? Hash)> _lastWritten = new();

    /// <summary>True for the watch event of our own last write: the reconcile that wrote it saw the result.</summary>
    public bool IsOwnEcho(Cache cache, JsonObject obj) =>
        _lastWritten.TryGetValue($"{cache.Type.Plural}/{obj.Namespace()}/{obj.Name()}", out var written) && written.Version == obj.ResourceVersion();

    /// <summary>Forgets an object (plural/namespace/name) whose owner is gone.</summary>
    public void Forget(string key) => _lastWritten.TryRemove(key, out _);

    /// <summary>
    /// Creates or repairs one owned object. Null when done; a refusal when the object belongs to
    /// someone else or the API server rejects it. <paramref name="beforeUpdate"/> may write first
    /// (a status subresource) and return the object as it then is.
    /// </summary>
    public async Task<WriteRefusal?> ApplyAsync(Cache cache, JsonObject desired, string ownerUid, Func<JsonObject, JsonObject, CancellationToken, Task<JsonObject?>>? beforeUpdate, CancellationToken ct)
    {
        var ns = desired.Namespace();
        var name = desired.Name();
        var type = cache.Type;
        for (var attempt = 0; attempt < MaxWriteAttempts; attempt++)
        {
            var live = attempt == 0 ? cache.Get(ns, name) : await _client.GetAsync(type, ns, name, ct).ConfigureAwait(false);
            if (live is null)
            {
                try
                {
                    var created = await _client.CreateAsync(type, ns, desired, ct).ConfigureAwait(false);
                    _lastWritten[$"{type.Plural}/{ns}/{name}"] = (created.ResourceVersion() ?? "", Drift.Hash(desired));
                    cache.Observe(created);
                    LogCreated(_logger, type.Kind, name);
                    return null;
                }
                catch (KubeApiException e) when (e.IsAlreadyExists)
                {
                    continue;
                }
                catch (KubeApiException e) when (e.StatusCode == System.Net.HttpStatusCode.UnprocessableEntity)
                {
                    return Rejected(type, ns, name, e);
                }
            }

            if (!live.IsControlledBy(ownerUid) && live["metadata"]?["ownerReferences"] is JsonArray owners
                && owners.Any(o => o?["controller"] is JsonValue c && c.TryGetValue<bool>(out var b) && b))
            {
                return new WriteRefusal("OwnedElsewhere", $"{type.Kind} {ns}/{name} exists and is controlled by another object; rename or delete it");
            }

            if (Drift.Matches(desired, live))
            {
                return null;
            }

            var writtenKey = $"{type.Plural}/{ns}/{name}";
            if (_lastWritten.TryGetValue(writtenKey, out var written) && written.Version == live.ResourceVersion() && written.Hash == Drift.Hash(desired))
            {
                // Unchanged since our own write of this very desired state, yet different from it: the
                // server (or an admission webhook) rewrites a field. Writing again would loop forever.
                LogServerRewrites(_logger, type.Kind, name);
                return null;
            }

            if (beforeUpdate is not null && await beforeUpdate(desired, live, ct).ConfigureAwait(false) is { } held)
            {
                live = held;
            }

            try
            {
                var updated = await _client.UpdateAsync(type, Drift.Repair(desired, live), ct).ConfigureAwait(false);
                _lastWritten[writtenKey] = (updated.ResourceVersion() ?? "", Drift.Hash(desired));
                cache.Observe(updated);
                LogUpdated(_logger, type.Kind, name);
                return null;
            }
            catch (KubeApiException e) when (e.IsConflict || e.IsNotFound)
            {
                // Someone wrote in between: re-read and decide again.
            }
            catch (KubeApiException e) when (e.StatusCode == System.Net.HttpStatusCode.UnprocessableEntity)
            {
                return Rejected(type, ns, name, e);
            }
        }

        throw new InvalidOperationException($"{type.Kind} {ns}/{name}: still conflicting after {MaxWriteAttempts} attempts");
    }

    /// <summary>
    /// 422 Invalid: the server will refuse the same object every time, so this is a condition to
    /// report (with the server's reason and message), not an error to retry; the next spec change
    /// or resync tries again.
    /// </summary>
    private WriteRefusal Rejected(ResourceType type, string? ns, string name, KubeApiException e)
    {
        LogRejected(_logger, type.Kind, name, e.ApiMessage);
        return new WriteRefusal($"{type.Kind}{e.Reason}", $"the API server rejected {type.Kind} {ns}/{name}: {e.ApiMessage}");
    }

    [LoggerMessage(EventId = 4310, Level = LogLevel.Information, Message = "created {Kind} {Name}")]
    private static partial void LogCreated(ILogger logger, string kind, string name);

    [LoggerMessage(EventId = 4311, Level = LogLevel.Information, Message = "updated {Kind} {Name} (spec change or drift)")]
    private static partial void LogUpdated(ILogger logger, string kind, string name);

    [LoggerMessage(EventId = 4312, Level = LogLevel.Warning, Message = "{Kind} {Name} differs from the desired state right after our own update (the server or a webhook rewrites a field); not writing again until it changes")]
    private static partial void LogServerRewrites(ILogger logger, string kind, string name);

    [LoggerMessage(EventId = 4313, Level = LogLevel.Warning, Message = "the API server rejected {Kind} {Name}: {Message}")]
    private static partial void LogRejected(ILogger logger, string kind, string name, string message);
}
