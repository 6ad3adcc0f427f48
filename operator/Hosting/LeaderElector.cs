using System.Globalization;
using System.Text.Json.Nodes;
using BulkExport.Operator.Kubernetes;
using Microsoft.Extensions.Logging;

namespace BulkExport.Operator.Hosting;

/// <summary>
/// Leader election on a coordination.k8s.io/v1 Lease, after client-go's algorithm: a candidate
/// takes the lease when its holder has not renewed it for a lease duration (measured on our own
/// clock from when we last saw it change, so clock skew between nodes does not matter); the leader
/// renews every retry period and steps down when it cannot renew within the renew deadline.
/// Every attempt has its own deadline, and the renew deadline counts from when the last successful
/// renew was <em>sent</em>: others measure the lease from when they see that write, which is never
/// earlier, so a leader that stops at renew deadline (shorter than the lease duration) has stopped
/// before anyone else can acquire, even when the API server hangs mid-request.
/// </summary>
internal sealed partial class LeaderElector(KubeApiClient client, OperatorOptions options, TimeProvider time, ILogger logger)
{
    private string? _observedHolder;
    private string? _observedRenew;
    private DateTimeOffset _observedAt;

    public bool IsLeader { get; private set; }

    public string Identity => options.Identity;

    /// <summary>Competes for the lease until <paramref name="ct"/> ends, running <paramref name="lead"/> while leading.</summary>
    public async Task RunAsync(Func<CancellationToken, Task> lead, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var attemptStart = time.GetUtcNow();
            if (!await TryAcquireOrRenewAsync(options.RenewDeadline, ct).ConfigureAwait(false))
            {
                await DelayAsync(options.RetryPeriod, ct).ConfigureAwait(false);
                continue;
            }

            IsLeader = true;
            LogElected(logger, options.Identity, options.LeaseName);
            using var leading = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var work = Task.Run(() => lead(leading.Token), CancellationToken.None);
            var lastRenew = attemptStart;
            while (!ct.IsCancellationRequested && !work.IsCompleted)
            {
                await DelayAsync(options.RetryPeriod, ct).ConfigureAwait(false);
                if (ct.IsCancellationRequested)
                {
                    break;
                }

                // The attempt may take only what is left of the renew deadline.
                attemptStart = time.GetUtcNow();
                var left = lastRenew + options.RenewDeadline - attemptStart;
                if (left > TimeSpan.Zero && await TryAcquireOrRenewAsync(left, ct).ConfigureAwait(false))
                {
                    lastRenew = attemptStart;
                }
                else if (time.GetUtcNow() - lastRenew >= options.RenewDeadline || _observedHolder != options.Identity)
                {
                    LogLost(logger, options.Identity);
                    break;
                }
            }

            IsLeader = false;
            await leading.CancelAsync().ConfigureAwait(false);
            try
            {
                await work.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Expected when stepping down.
            }

            if (ct.IsCancellationRequested && options.ReleaseOnCancel)
            {
                await ReleaseAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, time, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The caller checks the token.
        }
    }

    internal async Task<bool> TryAcquireOrRenewAsync(TimeSpan deadline, CancellationToken stopping)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        attempt.CancelAfter(deadline);
        var ct = attempt.Token;
        var now = time.GetUtcNow();
        var ns = options.LeaseNamespace;
        try
        {
            var lease = await client.GetAsync(ResourceType.Leases, ns, options.LeaseName, ct).ConfigureAwait(false);
            if (lease is null)
            {
                var created = await client.CreateAsync(ResourceType.Leases, ns, new JsonObject
                {
                    ["apiVersion"] = "coordination.k8s.io/v1",
                    ["kind"] = "Lease",
                    ["metadata"] = new JsonObject { ["name"] = options.LeaseName, ["namespace"] = ns },
                    ["spec"] = Spec(now, now, 0),
                }, ct).ConfigureAwait(false);
                Observe(created, now);
                return true;
            }

            var spec = lease["spec"] as JsonObject ?? [];
            var holder = (string?)spec["holderIdentity"];
            if (holder != _observedHolder || (string?)spec["renewTime"] != _observedRenew)
            {
                Observe(lease, now);
            }

            var duration = spec["leaseDurationSeconds"] is JsonValue d && d.TryGetValue<int>(out var seconds) ? TimeSpan.FromSeconds(seconds) : options.LeaseDuration;
            if (!string.IsNullOrEmpty(holder) && holder != options.Identity && _observedAt + duration > now)
            {
                return false;
            }

            var transitions = spec["leaseTransitions"] is JsonValue t && t.TryGetValue<int>(out var n) ? n : 0;
            var acquire = holder == options.Identity && spec["acquireTime"] is JsonValue a && DateTimeOffset.TryParse((string?)a, CultureInfo.InvariantCulture, out var at) ? at : now;
            lease["spec"] = Spec(acquire, now, holder == options.Identity ? transitions : transitions + 1);
            var updated = await client.UpdateAsync(ResourceType.Leases, lease, ct).ConfigureAwait(false);
            Observe(updated, now);
            return true;
        }
        catch (KubeApiException e) when (e.IsConflict || e.IsAlreadyExists)
        {
            // Another candidate wrote first.
            return false;
        }
        catch (Exception e) when (e is KubeApiException or HttpRequestException && !ct.IsCancellationRequested)
        {
            LogLeaseError(logger, e.Message);
            return false;
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            LogLeaseError(logger, $"no answer within {deadline.TotalMilliseconds:0} ms");
            return false;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>On shutdown the leader gives the lease up so a standby takes over at once instead of after a lease duration.</summary>
    private async Task ReleaseAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var lease = await client.GetAsync(ResourceType.Leases, options.LeaseNamespace, options.LeaseName, timeout.Token).ConfigureAwait(false);
            if (lease?["spec"] is JsonObject spec && (string?)spec["holderIdentity"] == options.Identity)
            {
                spec["holderIdentity"] = null;
                spec["leaseDurationSeconds"] = 1;
                spec["renewTime"] = MicroTime(time.GetUtcNow());
                await client.UpdateAsync(ResourceType.Leases, lease, timeout.Token).ConfigureAwait(false);
                LogReleased(logger, options.Identity);
            }
        }
        catch (Exception e) when (e is KubeApiException or HttpRequestException or OperationCanceledException)
        {
            LogLeaseError(logger, e.Message);
        }
    }

    private void Observe(JsonObject lease, DateTimeOffset now)
    {
        _observedHolder = (string?)lease["spec"]?["holderIdentity"];
        _observedRenew = (string?)lease["spec"]?["renewTime"];
        _observedAt = now;
    }

    private JsonObject Spec(DateTimeOffset acquire, DateTimeOffset renew, int transitions) => new()
    {
        ["holderIdentity"] = options.Identity,
        ["leaseDurationSeconds"] = (int)options.LeaseDuration.TotalSeconds,
        ["acquireTime"] = MicroTime(acquire),
        ["renewTime"] = MicroTime(renew),
        ["leaseTransitions"] = transitions,
    };

    private static string MicroTime(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "{Identity} became leader (lease {Lease})")]
    private static partial void LogElected(ILogger logger, string identity, string lease);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "{Identity} lost the lease; stopping reconciles")]
    private static partial void LogLost(ILogger logger, string identity);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "{Identity} released the lease")]
    private static partial void LogReleased(ILogger logger, string identity);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "lease request failed: {Error}")]
    private static partial void LogLeaseError(ILogger logger, string error);
}
