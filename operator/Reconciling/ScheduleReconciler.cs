using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using BulkExport.Api;
using BulkExport.Operator.Hosting;
using BulkExport.Operator.Kubernetes;
using BulkExport.Operator.Runtime;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace BulkExport.Operator.Reconciling;

/// <summary>
/// The reconciler: maps one ExportSchedule (the typed model of api/, bound after validation) to its
/// desired ConfigMap and two CronJobs (typed k8s.Models) and its status, reading the Jobs, pods and
/// CronJobs it owns as typed models from the runtime's caches. Watching, queueing, retrying and
/// timed wake-ups are the runtime's (<see cref="ControllerRuntime"/>).
/// </summary>
internal sealed partial class ScheduleReconciler : IReconciler
{
    private const int MaxWriteAttempts = 6;

    private readonly ControllerRuntime _runtime;
    private readonly KubeApiClient _client;
    private readonly OperatorOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly OperatorMetrics _metrics;
    private readonly EventRecorder _events;
    /// <summary>
    /// What each exporter pod reported when it terminated, by Job (namespace/job), kept until the
    /// schedule's status has it: a Job and its pods may be gone (ttlSecondsAfterFinished: 0, history
    /// limits of 0) before the schedule is reconciled, and this is then the only record of the run.
    /// </summary>
    private readonly ConcurrentDictionary<string, PodRun> _podRuns = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _unreadableReported = new();
    /// <summary>Failed Jobs (namespace/job) seen without their pod, and since when (<see cref="AwaitPod"/>).</summary>
    private readonly ConcurrentDictionary<string, (string Schedule, DateTimeOffset FirstSeen)> _awaitingPod = new();
    /// <summary>Runs counted in the run metrics (namespace/job), so a run seen on several reconciles counts once.</summary>
    private readonly ConcurrentDictionary<string, string> _countedRuns = new();
    private readonly OwnedObjectWriter _writer;
    private readonly ConcurrentDictionary<string, Interpretation> _interpreted = new();
    private readonly ConcurrentDictionary<string, AppliedState> _applied = new();
    private long _desiredBuilds;
    /// <summary>Schedule keys by spec.register, so the register-conflict check does not scan every schedule.</summary>
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> _byRegister = new();
    private Cache _schedules = null!;
    private Cache _cronJobs = null!;
    private Cache _configMaps = null!;
    private Cache _jobs = null!;
    private Cache _pods = null!;

    public ScheduleReconciler(ControllerRuntime runtime, OperatorOptions options, ILogger logger, TimeProvider time, OperatorMetrics metrics)
    {
        _runtime = runtime;
        _client = runtime.Client;
        _options = options;
        _logger = logger;
        _time = time;
        _metrics = metrics;
        _events = new EventRecorder(_client, time, options.Identity, logger);
        _writer = new OwnedObjectWriter(_client, logger);
    }

    public void Configure(ControllerRuntime runtime)
    {
        _byRegister.Clear();
        // New caches (leadership regained): verify every owned object again.
        _applied.Clear();
        _schedules = runtime.Watch(ResourceType.ExportSchedules, null);
        _cronJobs = runtime.Watch(ResourceType.CronJobs, Labels.ManagedSelector);
        _configMaps = runtime.Watch(ResourceType.ConfigMaps, Labels.ManagedSelector);
        _jobs = runtime.Watch(ResourceType.Jobs, Labels.ManagedSelector);
        // Pods carry the Job template's labels; their terminated state holds the exporter's summary.
        _pods = runtime.Watch(ResourceType.Pods, Labels.ManagedSelector);

        _schedules.OnChange(OnScheduleChange);
        // Deleted pods too: the last state of a pod removed with its Job is in the DELETED event.
        _pods.OnChange((_, pod, _) => RecordPod(Typed.Of<V1Pod>(pod)));
        foreach (var cache in new[] { _cronJobs, _configMaps, _jobs, _pods })
        {
            cache.OnChange((type, obj, _) =>
            {
                // The echo of our own create or update brings nothing new: the reconcile that wrote
                // it saw the result. Skipping it saves a reconcile per written object.
                if (type != WatchEventType.Deleted && _writer.IsOwnEcho(cache, obj))
                {
                    return;
                }

                if (obj.Label(Labels.Schedule) is { } schedule)
                {
                    _runtime.Queue.Add(Meta.Key(obj.Namespace(), schedule));
                }
            });
        }
    }

    /// <summary>How often the desired objects were built and compared with the caches (tests, bench): not when nothing changed.</summary>
    public long DesiredBuilds => Interlocked.Read(ref _desiredBuilds);

    public IEnumerable<string> AllKeys() => AllSchedules().Select(s => s.Key());

    private void OnScheduleChange(WatchEventType type, JsonObject obj, JsonObject? old)
    {
        var key = obj.Key();
        if ((string?)old?["spec"]?["register"] is { } oldRegister && _byRegister.TryGetValue(oldRegister, out var was))
        {
            was.TryRemove(key, out _);
        }

        if (type != WatchEventType.Deleted && (string?)obj["spec"]?["register"] is { } newRegister)
        {
            _byRegister.GetOrAdd(newRegister, _ => new()).TryAdd(key, 0);
        }

        // Our own status writes come back as MODIFIED events with the same generation: skip those.
        if (type == WatchEventType.Modified && old is not null && old.Generation() == obj.Generation()
            && JsonNode.DeepEquals(old["metadata"]?["labels"], obj["metadata"]?["labels"])
            && JsonNode.DeepEquals(old["metadata"]?["annotations"]?[Labels.RunNow], obj["metadata"]?["annotations"]?[Labels.RunNow])
            && JsonNode.DeepEquals(old["metadata"]?["deletionTimestamp"], obj["metadata"]?["deletionTimestamp"]))
        {
            return;
        }

        _runtime.Queue.Add(key);
        // A schedule appearing, leaving or moving can settle a register conflict of others.
        foreach (var register in new[] { (string?)obj["spec"]?["register"], (string?)old?["spec"]?["register"] }.OfType<string>().Distinct())
        {
            foreach (var other in SameRegister(register).Where(k => k != key))
            {
                _runtime.Queue.Add(other);
            }
        }
    }

    private IEnumerable<string> SameRegister(string? register) =>
        register is not null && _byRegister.TryGetValue(register, out var keys) ? keys.Keys : [];

    private IEnumerable<JsonObject> AllSchedules() => _schedules.Items;

    public async Task ReconcileAsync(string key, CancellationToken ct)
    {
        using var activity = OperatorMetrics.Activities.StartActivity("reconcile ExportSchedule");
        activity?.SetTag("k8s.exportschedule", key);
        var (ns, name) = Meta.SplitKey(key);
        var obj = _schedules.Get(ns, name);
        if (obj is null)
        {
            // Deleted: the API server's garbage collector removes what the ownerReferences tie to it.
            _metrics.Forget(key);
            _runtime.Forget(key);
            _interpreted.TryRemove(key, out _);
            _applied.TryRemove(key, out _);
            foreach (var ownedKey in new[] { $"configmaps/{ns}/{DesiredState.ConfigMapName(name)}", $"cronjobs/{ns}/{DesiredState.CronJobName(name, Labels.Total)}", $"cronjobs/{ns}/{DesiredState.CronJobName(name, Labels.Delta)}" })
            {
                _writer.Forget(ownedKey);
            }

            return;
        }

        if (obj["metadata"]?["deletionTimestamp"] is not null)
        {
            return;
        }

        using var scope = _logger.BeginScope(new Dictionary<string, object?> { ["schedule"] = key, ["generation"] = obj.Generation() });

        var spec = Interpret(key, obj);
        var schedule = spec.Schedule;
        var readiness = spec.Invalid
            ?? CheckRegisterConflict(obj) ?? await CheckSecretsAsync(schedule!, ns, ct).ConfigureAwait(false) ?? new Readiness(true, "", "");

        var owned = new AppliedState(obj.Uid() ?? "", obj.Generation(), OwnedVersion(_configMaps, ns, DesiredState.ConfigMapName(name)),
            OwnedVersion(_cronJobs, ns, DesiredState.CronJobName(name, Labels.Total)), OwnedVersion(_cronJobs, ns, DesiredState.CronJobName(name, Labels.Delta)));
        if (readiness.Ready && _applied.TryGetValue(key, out var applied) && applied == owned)
        {
            // Neither the spec (uid, generation) nor any owned object (resourceVersion) changed since
            // they last matched: the drift check would say so again. This skips building and
            // comparing the desired objects on a resync and on the echoes of our own writes.
            readiness = new Readiness(true, "Reconciled", UpToDate(name));
        }
        else if (readiness.Ready)
        {
            Interlocked.Increment(ref _desiredBuilds);
            var desired = DesiredState.Build(schedule!, obj.Uid(), _options.ExporterImage);
            // The three objects are independent (a CronJob names the ConfigMap, but only its pods read
            // it), so they are written at once: a new schedule costs one round trip, not three.
            var writes = await Task.WhenAll(
                _writer.ApplyAsync(_configMaps, desired.ConfigMap, obj.Uid()!, null, ct),
                _writer.ApplyAsync(_cronJobs, desired.TotalCronJob, obj.Uid()!, HoldMissedRunsOnResumeAsync, ct),
                _writer.ApplyAsync(_cronJobs, desired.DeltaCronJob, obj.Uid()!, HoldMissedRunsOnResumeAsync, ct)).ConfigureAwait(false);
            if (writes.FirstOrDefault(r => r is not null) is { } refusal)
            {
                readiness = new Readiness(false, refusal.Reason, refusal.Message);
                _applied.TryRemove(key, out _);
            }
            else
            {
                readiness = new Readiness(true, "Reconciled", UpToDate(name));
                // The caches hold our writes' answers now (OwnedObjectWriter observes them).
                _applied[key] = owned with
                {
                    ConfigMap = OwnedVersion(_configMaps, ns, DesiredState.ConfigMapName(name)),
                    Total = OwnedVersion(_cronJobs, ns, DesiredState.CronJobName(name, Labels.Total)),
                    Delta = OwnedVersion(_cronJobs, ns, DesiredState.CronJobName(name, Labels.Delta)),
                };
            }
        }
        else
        {
            _applied.TryRemove(key, out _);
        }

        var current = ParseStatus(obj);
        var previousReady = current?.Conditions.FirstOrDefault(c => c.Type == ConditionTypes.Ready);
        if (!readiness.Ready)
        {
            LogNotReady(_logger, readiness.Reason, readiness.Message);
            if (previousReady is null || previousReady.Status != "False" || previousReady.Reason != readiness.Reason || previousReady.Message != readiness.Message)
            {
                await _events.WarningAsync(obj, readiness.Reason, readiness.Message, ct).ConfigureAwait(false);
            }
        }

        var finished = await FinishedJobsAsync(ns, name, current, ct).ConfigureAwait(false);
        var runNow = readiness.Ready ? await RunNowAsync(obj, current, ct).ConfigureAwait(false) : null;
        var status = await WriteStatusAsync(obj, schedule, readiness, finished, runNow, ct).ConfigureAwait(false);
        CountRuns(key, ns, name, finished);
        await TransitionEventsAsync(obj, current, status, ct).ConfigureAwait(false);
        await ReportUnreadableRunsAsync(obj, status, ct).ConfigureAwait(false);
        _metrics.Schedule(key, Latest(status.LastTotal?.CompletionTime, status.LastDelta?.CompletionTime), status.LastGeneration);

        if (!readiness.Ready && schedule is not null && !readiness.Reason.EndsWith("Invalid", StringComparison.Ordinal))
        {
            // Secrets and other schedules are not watched for this; look again later.
            _runtime.WakeAt(key, _time.GetUtcNow() + TimeSpan.FromMinutes(1), ct);
        }

        if (schedule is not null)
        {
            var createdAt = CreatedAt(obj);
            var next = new[] { status.NextTotalTime, status.NextDeltaTime, StatusBuilder.StaleDeadline(schedule, status, _time.GetUtcNow(), createdAt) }
                .Where(t => t is not null).Select(t => t!.Value).DefaultIfEmpty(DateTimeOffset.MaxValue).Min();
            if (next != DateTimeOffset.MaxValue)
            {
                _runtime.WakeAt(key, next + TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    private static string UpToDate(string name) =>
        $"ConfigMap {DesiredState.ConfigMapName(name)} and CronJobs {DesiredState.CronJobName(name, Labels.Total)} and {DesiredState.CronJobName(name, Labels.Delta)} are up to date";

    private static string? OwnedVersion(Cache cache, string? ns, string name) => cache.Get(ns, name)?.ResourceVersion();

    /// <summary>What a schedule's owned objects were when they last matched its spec: uid and generation of the schedule, resourceVersions of the objects.</summary>
    private sealed record AppliedState(string Uid, long Generation, string? ConfigMap, string? Total, string? Delta);

    /// <summary>
    /// Validation and binding of one spec, computed once per (uid, generation): they depend on
    /// nothing else, and a resync or a Job event reconciles an unchanged spec many times. The
    /// generation moves with every spec change. The desired objects are rebuilt each time instead:
    /// kept for 1,000 schedules they cost some 75 MB against the chart's 256 Mi limit.
    /// </summary>
    private Interpretation Interpret(string key, JsonObject obj)
    {
        var uid = obj.Uid() ?? "";
        var generation = obj.Generation();
        if (_interpreted.TryGetValue(key, out var cached) && cached.Uid == uid && cached.Generation == generation)
        {
            return cached;
        }

        Interpretation result;
        // Validation and binding read every field, so they work on a copy parsed from the object's
        // text: the cached object stays as the watch delivered it (parsed lazily, a few objects for
        // the GC to trace instead of a node per field; the caches left unmaterialized halved the
        // second pass's GC pauses, bench/README.md, operator section). Validation only reads its
        // copy, and binding normalizes a clone of it, so one parse serves both.
        var copy = JsonNode.Parse(obj.ToJsonString());
        var errors = ScheduleValidator.Validate(copy);
        if (errors.Count > 0)
        {
            result = new Interpretation(uid, generation, null, new Readiness(false, InvalidReason(errors), string.Join("; ", errors)));
        }
        else if (ScheduleDocument.BindValidated(copy!) is var parsed && ClusterRules.Validate(parsed) is { Count: > 0 } clusterErrors)
        {
            result = new Interpretation(uid, generation, null, new Readiness(false, "InvalidSpec", string.Join("; ", clusterErrors)));
        }
        else
        {
            result = new Interpretation(uid, generation, parsed, null);
        }

        _interpreted[key] = result;
        return result;
    }

    private sealed record Interpretation(string Uid, long Generation, ExportSchedule? Schedule, Readiness? Invalid);

    private static string InvalidReason(IReadOnlyList<ValidationError> errors) =>
        errors.All(e => e.Path.EndsWith(".schedule", StringComparison.Ordinal)) ? "InvalidSchedule"
        : errors.All(e => e.Path == "spec.timeZone") ? "InvalidTimeZone"
        : "InvalidSpec";

    private Readiness? CheckRegisterConflict(JsonObject obj)
    {
        var register = (string?)obj["spec"]?["register"];
        var storage = StorageKey(obj);
        var mine = (CreatedAt(obj) ?? DateTimeOffset.MaxValue, obj.Key());
        var key = obj.Key();
        // Only the schedules with the same register (an index kept by the schedule watch): this runs
        // on every reconcile, and a scan of all schedules made the first pass quadratic.
        var holder = SameRegister(register).Where(k => k != key)
            .Select(k => Meta.SplitKey(k)).Select(k => _schedules.Get(k.Item1, k.Item2)).OfType<JsonObject>()
            .Where(s => (string?)s["spec"]?["register"] == register && s["metadata"]?["deletionTimestamp"] is null
                && s.Key() != key && StorageKey(s) == storage)
            .Select(s => (Created: CreatedAt(s) ?? DateTimeOffset.MaxValue, Key: s.Key()))
            .Where(s => s.Created < mine.Item1 || (s.Created == mine.Item1 && string.CompareOrdinal(s.Key, mine.Item2) < 0))
            .OrderBy(s => s.Created).ThenBy(s => s.Key, StringComparer.Ordinal)
            .FirstOrDefault();
        return holder.Key is null
            ? null
            : new Readiness(false, "RegisterConflict",
                $"register {register} in storage {storage} is already exported by ExportSchedule {holder.Key}; two schedules would claim the same generation numbers");
    }

    /// <summary>Where a schedule publishes: two schedules with the same register there would share one generation sequence.</summary>
    internal static string StorageKey(JsonObject obj)
    {
        var storage = obj["spec"]?["storage"];
        if (storage?["s3"] is JsonObject s3)
        {
            var prefix = ((string?)s3["prefix"] ?? "").Trim('/');
            return $"s3://{(string?)s3["endpoint"] ?? "aws"}/{(string?)s3["bucket"]}/{prefix}";
        }

        if (storage?["local"] is JsonObject local)
        {
            var path = ((string?)local["path"] ?? "").TrimEnd('/');
            return (string?)local["claimName"] is { } claim ? $"pvc://{obj.Namespace()}/{claim}{path}" : $"file://{path}";
        }

        return "";
    }

    private async Task<Readiness?> CheckSecretsAsync(ExportSchedule schedule, string? ns, CancellationToken ct)
    {
        var refs = new List<(string Field, string Name, string[] Keys)>();
        if (schedule.Spec.Source.Postgres is { } pg)
        {
            refs.Add(("spec.source.postgres.connectionSecretRef", pg.ConnectionSecretRef.Name, [pg.ConnectionSecretRef.Key]));
        }

        if (schedule.Spec.Storage.S3?.CredentialsSecretRef is { } creds)
        {
            refs.Add(("spec.storage.s3.credentialsSecretRef", creds.Name, [creds.AccessKeyIdKey, creds.SecretAccessKeyKey]));
        }

        if (schedule.Spec.Signing?.SecretRef is { } signing)
        {
            refs.Add(("spec.signing.secretRef", signing.Name, signing.NextPublicKeyKey is { } next ? [signing.Key, next] : [signing.Key]));
        }

        foreach (var (field, secretName, keys) in refs)
        {
            JsonObject? secret;
            try
            {
                secret = await _client.GetAsync(ResourceType.Secrets, ns, secretName, ct).ConfigureAwait(false);
            }
            catch (KubeApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Forbidden)
            {
                // The chart can withhold `get` on Secrets (rbac.secretsAccess=false): then the check is
                // skipped and a missing Secret shows up as a failing Job instead.
                LogSecretCheckForbidden(_logger, secretName);
                continue;
            }

            if (secret is null)
            {
                return new Readiness(false, "SecretNotFound", $"Secret {ns}/{secretName} named by {field} does not exist");
            }

            var missing = keys.Where(k => secret["data"]?[k] is null && secret["stringData"]?[k] is null).ToList();
            if (missing.Count > 0)
            {
                return new Readiness(false, "SecretKeyNotFound", $"Secret {ns}/{secretName} named by {field} has no key {string.Join(", ", missing)}");
            }
        }

        return null;
    }

    /// <summary>
    /// Resuming never starts a run at once. The CronJob controller, on a CronJob whose suspend flips
    /// to false, starts the latest start time it finds between status.lastScheduleTime (or
    /// now - startingDeadlineSeconds, whichever is later) and now: a run missed while suspended.
    /// So before the flip, while the CronJob is still suspended and the controller leaves it alone,
    /// lastScheduleTime is moved to the latest start time not after now; the controller then finds
    /// nothing missed and waits for the next one. An @every schedule keeps its phase, since the
    /// new lastScheduleTime is one of its own start times. Returns the CronJob as written, or null
    /// when it is not a resume or nothing was missed.
    /// </summary>
    private async Task<JsonObject?> HoldMissedRunsOnResumeAsync(JsonObject desired, JsonObject live, CancellationToken ct)
    {
        var wasSuspended = live["spec"]?["suspend"] is JsonValue l && l.TryGetValue<bool>(out var ls) && ls;
        var resumes = desired["spec"]?["suspend"] is JsonValue d && d.TryGetValue<bool>(out var ds) && !ds;
        if (!wasSuspended || !resumes
            || !Schedules.TryParseCron((string?)desired["spec"]?["schedule"], out var cron, out _)
            || !Schedules.TryFindTimeZone((string?)desired["spec"]?["timeZone"] ?? "UTC", out var zone))
        {
            return null;
        }

        var now = _time.GetUtcNow();
        var last = Time(live["status"]?["lastScheduleTime"]);
        var anchor = last ?? CreatedAt(live) ?? now;
        var from = anchor;
        if (desired["spec"]?["startingDeadlineSeconds"] is JsonValue dl && dl.TryGetValue<long>(out var deadline) && now.AddSeconds(-deadline) > from)
        {
            // The controller looks no further back than the deadline, so neither need we.
            from = now.AddSeconds(-deadline);
        }

        DateTimeOffset? latest = null;
        for (var (t, steps) = (from, 0); steps < 100_000 && cron!.Next(zone!, t, anchor) is { } next && next <= now; (t, steps) = (next, steps + 1))
        {
            latest = next;
        }

        if (latest is null)
        {
            return null;
        }

        var next2 = (JsonObject)live.DeepClone();
        var status = next2["status"] as JsonObject ?? [];
        status["lastScheduleTime"] = StatusBuilder.Seconds(latest.Value).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        next2["status"] = status;
        var written = await _client.UpdateStatusAsync(ResourceType.CronJobs, next2, ct).ConfigureAwait(false);
        LogResumeHeld(_logger, live.Name(), latest.Value);
        return written;
    }

    /// <summary>
    /// The run-now annotation: a value not acted on yet starts one Job from the CronJob of its type,
    /// named after the nonce (so a retry finds it instead of starting a second) and marked as
    /// <c>kubectl create job --from</c> marks it. Returns the value to record in status, or null.
    /// </summary>
    private async Task<string?> RunNowAsync(JsonObject obj, ExportScheduleStatus? status, CancellationToken ct)
    {
        if ((string?)obj["metadata"]?["annotations"]?[Labels.RunNow] is not { Length: > 0 } value || value == status?.LastRunNow)
        {
            return null;
        }

        var colon = value.IndexOf(':', StringComparison.Ordinal);
        var type = colon < 0 ? value : value[..colon];
        if (type is not (Labels.Total or Labels.Delta) || colon < 0 || colon == value.Length - 1)
        {
            await _events.WarningAsync(obj, "InvalidRunNow", $"annotation {Labels.RunNow}='{value}' must be total:NONCE or delta:NONCE (a new nonce for every run)", ct).ConfigureAwait(false);
            return value;
        }

        var cronJob = _cronJobs.Get(obj.Namespace(), DesiredState.CronJobName(obj.Name(), type))
            ?? throw new InvalidOperationException($"CronJob {DesiredState.CronJobName(obj.Name(), type)} is not in the cache yet");
        var template = cronJob["spec"]?["jobTemplate"] as JsonObject ?? [];
        var annotations = template["metadata"]?["annotations"]?.DeepClone() as JsonObject ?? [];
        annotations[Labels.Instantiate] = "manual";
        annotations[Labels.RunNow] = value;
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(value)))[..6];
        var job = new JsonObject
        {
            ["apiVersion"] = "batch/v1",
            ["kind"] = "Job",
            ["metadata"] = new JsonObject
            {
                // At most 52 + 11 characters: the job-name label the Job controller sets must fit in 63.
                ["name"] = $"{cronJob.Name()}-run-{hash}",
                ["namespace"] = obj.Namespace(),
                ["labels"] = template["metadata"]?["labels"]?.DeepClone(),
                ["annotations"] = annotations,
                ["ownerReferences"] = new JsonArray
                {
                    new JsonObject
                    {
                        ["apiVersion"] = "batch/v1",
                        ["kind"] = "CronJob",
                        ["name"] = cronJob.Name(),
                        ["uid"] = cronJob.Uid(),
                        ["controller"] = true,
                    },
                },
            },
            ["spec"] = template["spec"]?.DeepClone(),
        };
        try
        {
            await _client.CreateAsync(ResourceType.Jobs, obj.Namespace(), job, ct).ConfigureAwait(false);
            LogRunNow(_logger, type, job.Name());
            await _events.NormalAsync(obj, "RunNow", $"started Job {job.Name()} from CronJob {cronJob.Name()} for {Labels.RunNow}={value}", ct).ConfigureAwait(false);
        }
        catch (KubeApiException e) when (e.IsAlreadyExists)
        {
            // Started by an earlier attempt whose status write did not land.
        }

        return value;
    }

    private async Task<ExportScheduleStatus> WriteStatusAsync(JsonObject obj, ExportSchedule? schedule, Readiness readiness, IReadOnlyList<FinishedJob> finished, string? runNow, CancellationToken ct)
    {
        for (var attempt = 0; attempt < MaxWriteAttempts; attempt++)
        {
            var status = StatusBuilder.Build(ParseStatus(obj), obj.Generation(), schedule, readiness, finished, _time.GetUtcNow(), CreatedAt(obj), Anchors(obj, schedule));
            status.LastRunNow = runNow ?? status.LastRunNow;
            var node = JsonSerializer.SerializeToNode(status, ScheduleDocument.JsonOptions);
            if (JsonNode.DeepEquals(obj["status"], node))
            {
                return status;
            }

            // A merge patch of the status subresource with the resourceVersion the status was computed
            // from: the same optimistic concurrency as a PUT of the whole object (409 when someone
            // wrote in between), without copying the cached schedule and sending its spec back.
            var patch = new JsonObject
            {
                ["metadata"] = new JsonObject { ["resourceVersion"] = obj.ResourceVersion() },
                ["status"] = MergePatch.Between(obj["status"], node),
            };
            try
            {
                var updated = await _client.PatchAsync(ResourceType.ExportSchedules, obj.Namespace(), obj.Name(), patch, ct, status: true).ConfigureAwait(false);
                _schedules.Observe(updated);

                return status;
            }
            catch (KubeApiException e) when (e.IsConflict)
            {
                obj = await _client.GetAsync(ResourceType.ExportSchedules, obj.Namespace(), obj.Name(), ct).ConfigureAwait(false)
                    ?? throw new InvalidOperationException($"ExportSchedule {obj.Key()} was deleted while its status was written");
            }
        }

        throw new InvalidOperationException($"ExportSchedule {obj.Key()}: status still conflicting after {MaxWriteAttempts} attempts");
    }

    private Task<IReadOnlyList<FinishedJob>> FinishedJobsAsync(string? ns, string schedule, ExportScheduleStatus? status, CancellationToken ct)
    {
        bool Recorded(string jobName, string type, bool succeeded, DateTimeOffset at, string? summaryError)
        {
            var finishedAt = StatusBuilder.Seconds(at);
            return succeeded
                ? (type == Labels.Total ? status?.LastTotal : status?.LastDelta) is { } run && (run.Job == jobName || run.CompletionTime >= finishedAt)
                : status?.LastFailure is { } failure && (failure.Job == jobName
                    // A failure recorded from the Job before its pod's summary arrived is recorded again with it.
                    ? summaryError is null || failure.Message == StatusBuilder.Truncate(summaryError)
                    : failure.Time >= finishedAt);
        }

        var result = new List<FinishedJob>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var job in _jobs.Items.Where(j => j.Namespace() == ns && j.Label(Labels.Schedule) == schedule))
        {
            seen.Add(job.Name());
            if (Finished(Typed.Of<V1Job>(job)) is not { } outcome)
            {
                continue;
            }

            var type = job.Label(Labels.Type) ?? Labels.Delta;
            var jobName = job.Name();
            var podRun = _podRuns.GetValueOrDefault(Meta.Key(ns, jobName));
            if (Recorded(jobName, type, outcome.Succeeded, outcome.At, podRun?.Summary?.Error))
            {
                _podRuns.TryRemove(Meta.Key(ns, jobName), out _);
                _awaitingPod.TryRemove(Meta.Key(ns, jobName), out _);
                continue;
            }

            if (!outcome.Succeeded && podRun is null && AwaitPod(ns, schedule, jobName, ct))
            {
                // Not recorded yet: the pod's summary is on its way (see AwaitPod).
                continue;
            }

            _awaitingPod.TryRemove(Meta.Key(ns, jobName), out _);

            if (outcome.Succeeded && podRun?.Summary is { } s)
            {
                LogJobRecorded(_logger, jobName, type, s.Generation ?? 0);
            }

            result.Add(new FinishedJob(jobName, type, outcome.Succeeded, outcome.At, podRun?.Summary, podRun?.RawMessage ?? outcome.Message));
        }

        // A Job deleted while it waited for its pod needs no more waiting.
        foreach (var (key, waiting) in _awaitingPod)
        {
            if (waiting.Schedule == schedule && Meta.SplitKey(key) is var (jobNs, job) && jobNs == ns && !seen.Contains(job))
            {
                _awaitingPod.TryRemove(key, out _);
            }
        }

        // Jobs already gone (TTL 0, history limit 0): what their pods said when they terminated.
        foreach (var (key, run) in _podRuns.Where(kv => kv.Value.Namespace == ns && kv.Value.Schedule == schedule && !seen.Contains(kv.Value.Job)))
        {
            if (Recorded(run.Job, run.Type, run.Succeeded, run.At, run.Summary?.Error))
            {
                _podRuns.TryRemove(key, out _);
                continue;
            }

            LogVanishedJobRecorded(_logger, run.Job, run.Type);
            result.Add(new FinishedJob(run.Job, run.Type, run.Succeeded, run.At, run.Summary, run.RawMessage ?? "the exporter pod failed"));
        }

        return Task.FromResult<IReadOnlyList<FinishedJob>>(result);
    }

    /// <summary>
    /// A failed Job seen before its pod: the Job and pod watches are separate streams, so the Job's
    /// Failed condition can arrive before the terminated pod that carries the exporter's error (the
    /// pod finishes first, but its event may come later). Recording the failure at once would put
    /// the Job's generic "backoff limit" message into status and into the run's only Warning Event,
    /// and the exporter's message would never reach the event. So the failure waits up to
    /// <see cref="PodGrace"/> from first sight for the pod (whose event queues the schedule); a Job
    /// that never had a readable pod is recorded with its own message after that. True while waiting.
    /// </summary>
    private bool AwaitPod(string? ns, string schedule, string jobName, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var firstSeen = _awaitingPod.GetOrAdd(Meta.Key(ns, jobName), (schedule, now)).FirstSeen;
        if (now - firstSeen >= PodGrace)
        {
            return false;
        }

        _runtime.WakeAt(Meta.Key(ns, schedule), firstSeen + PodGrace, ct);
        return true;
    }

    /// <summary>How long a failed Job waits for its pod's summary; pod and Job events are normally milliseconds apart.</summary>
    internal static readonly TimeSpan PodGrace = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Runs the CronJob controller saw finish (status.lastSuccessfulTime) that left no Job, pod or
    /// record here: the operator was down while TTL or history limits removed them. Reported, not skipped.
    /// </summary>
    private async Task ReportUnreadableRunsAsync(JsonObject obj, ExportScheduleStatus status, CancellationToken ct)
    {
        foreach (var type in new[] { Labels.Total, Labels.Delta })
        {
            // Most CronJobs have no successful run yet, or one long recorded: look at the field before
            // converting the cached object (a conversion per CronJob per reconcile was 7% of the bench's CPU).
            var cronJob = _cronJobs.Get(obj.Namespace(), DesiredState.CronJobName(obj.Name(), type)) is { } cached
                && cached["status"]?["lastSuccessfulTime"] is not null ? Typed.Of<V1CronJob>(cached) : null;
            if (At(cronJob?.Status?.LastSuccessfulTime) is not { } succeededAt)
            {
                continue;
            }

            var recorded = type == Labels.Total ? status.LastTotal?.CompletionTime : status.LastDelta?.CompletionTime;
            // The CronJob controller stamps lastSuccessfulTime from the Job's completion; allow clock rounding.
            if (recorded is not null && recorded >= succeededAt - TimeSpan.FromSeconds(2))
            {
                continue;
            }

            var key = $"{obj.Key()}/{type}";
            if (_unreadableReported.TryGetValue(key, out var reported) && reported >= succeededAt)
            {
                continue;
            }

            _unreadableReported[key] = succeededAt;
            var message = $"a {type} run succeeded at {succeededAt:O} (CronJob {cronJob!.Metadata.Name} status.lastSuccessfulTime) but its Job and pods were removed before the operator could read its summary (ttlSecondsAfterFinished or a history limit of 0 while the operator was not watching); its generation is not in status";
            LogRunUnreadable(_logger, message);
            await _events.WarningAsync(obj, "RunNotRecorded", message, ct).ConfigureAwait(false);
        }
    }

    private void RecordPod(V1Pod pod)
    {
        var labels = pod.Metadata?.Labels;
        if (labels is null || !labels.TryGetValue(Labels.JobName, out var jobName) || !labels.TryGetValue(Labels.Schedule, out var schedule))
        {
            return;
        }

        var terminated = (pod.Status?.ContainerStatuses ?? []).Where(cs => cs.Name == DesiredState.ContainerName)
            .Select(cs => cs.State?.Terminated).FirstOrDefault(t => t is not null);
        if (terminated is null || At(terminated.FinishedAt) is not { } at)
        {
            return;
        }

        var parsed = ParseSummary(terminated.Message);
        var ns = pod.Metadata!.NamespaceProperty;
        var run = new PodRun(ns, schedule, jobName, (labels.TryGetValue(Labels.Type, out var podType) ? podType : Labels.Delta), terminated.ExitCode == 0, at, parsed.Summary, parsed.RawMessage);
        // A retried Job has several pods: the newest one speaks for it.
        _podRuns.AddOrUpdate(Meta.Key(ns, jobName), run, (_, existing) => existing.At > at ? existing : run);
    }

    /// <summary>An Event for every failed run, and a Normal one when a failed run or a not-Ready schedule recovers.</summary>
    private async Task TransitionEventsAsync(JsonObject obj, ExportScheduleStatus? before, ExportScheduleStatus after, CancellationToken ct)
    {
        if (after.LastFailure is { } failure && failure.Job != before?.LastFailure?.Job)
        {
            await _events.WarningAsync(obj, "RunFailed", $"Job {failure.Job} failed: {failure.Message}", ct).ConfigureAwait(false);
        }

        string? Condition(ExportScheduleStatus? s, string type) => s?.Conditions.FirstOrDefault(c => c.Type == type)?.Status;
        if (Condition(before, ConditionTypes.LastRunFailed) == "True" && Condition(after, ConditionTypes.LastRunFailed) == "False")
        {
            await _events.NormalAsync(obj, "RunRecovered", after.Conditions.First(c => c.Type == ConditionTypes.LastRunFailed).Message, ct).ConfigureAwait(false);
        }

        if (Condition(before, ConditionTypes.Ready) == "False" && Condition(after, ConditionTypes.Ready) == "True")
        {
            await _events.NormalAsync(obj, "Recovered", $"Ready again: {after.Conditions.First(c => c.Type == ConditionTypes.Ready).Message}", ct).ConfigureAwait(false);
        }
    }

    private void CountRuns(string key, string? ns, string schedule, IReadOnlyList<FinishedJob> finished)
    {
        foreach (var run in finished)
        {
            if (!_countedRuns.TryAdd(Meta.Key(ns, run.Name), schedule))
            {
                continue;
            }

            var started = _jobs.Get(ns, run.Name) is { } cachedJob ? At(Typed.Of<V1Job>(cachedJob).Status?.StartTime) : null;
            _metrics.Run(key, run.Type, run.Succeeded, started is null ? null : run.FinishedAt - started.Value);
        }

        // Forget counted runs whose Job and pod record are gone: they cannot come back.
        foreach (var (job, owner) in _countedRuns)
        {
            var (jobNs, jobName) = Meta.SplitKey(job);
            if (owner == schedule && jobNs == ns && _jobs.Get(ns, jobName) is null && !_podRuns.ContainsKey(job))
            {
                _countedRuns.TryRemove(job, out _);
            }
        }
    }

    private sealed record PodRun(string? Namespace, string Schedule, string Job, string Type, bool Succeeded, DateTimeOffset At, RunSummary? Summary, string? RawMessage);

    private static (bool Succeeded, DateTimeOffset At, string? Message)? Finished(V1Job job)
    {
        foreach (var c in job.Status?.Conditions ?? [])
        {
            if (c.Status != "True")
            {
                continue;
            }

            if (c.Type == "Complete")
            {
                var at = At(job.Status!.CompletionTime) ?? At(c.LastTransitionTime);
                return at is null ? null : (true, at.Value, null);
            }

            if (c.Type == "Failed")
            {
                var at = At(c.LastTransitionTime);
                return at is null ? null : (false, at.Value, $"{c.Reason}: {c.Message}");
            }
        }

        return null;
    }

    /// <summary>The exporter's JSON summary from a termination message; with FallbackToLogsOnError a non-JSON message is the log tail, kept as the failure message.</summary>
    private static (RunSummary? Summary, string? RawMessage) ParseSummary(string? message)
    {
        if (string.IsNullOrWhiteSpace(message))
        {
            return (null, null);
        }

        try
        {
            return JsonSerializer.Deserialize<RunSummary>(message, ScheduleDocument.JsonOptions) is { } summary ? (summary, summary.Error) : (null, null);
        }
        catch (JsonException)
        {
            return (null, message.Trim());
        }
    }

    private static ExportScheduleStatus? ParseStatus(JsonObject obj)
    {
        try
        {
            return obj["status"] is JsonObject s ? s.Deserialize<ExportScheduleStatus>(ScheduleDocument.JsonOptions) : null;
        }
        catch (JsonException)
        {
            // A status this version cannot read is rebuilt from the Jobs.
            return null;
        }
    }

    private CronAnchors? Anchors(JsonObject obj, ExportSchedule? schedule)
    {
        // Only @every schedules count from their CronJob's history; the others need no typed view of it.
        if (schedule is null || !(schedule.Spec.Total.Schedule.StartsWith("@every", StringComparison.Ordinal) || schedule.Spec.Delta.Schedule.StartsWith("@every", StringComparison.Ordinal)))
        {
            return null;
        }

        DateTimeOffset? From(string type) => _cronJobs.Get(obj.Namespace(), DesiredState.CronJobName(obj.Name(), type)) is { } cached
            && Typed.Of<V1CronJob>(cached) is var cj
            ? At(cj.Status?.LastScheduleTime) ?? At(cj.Metadata?.CreationTimestamp)
            : null;
        return new CronAnchors(From(Labels.Total), From(Labels.Delta));
    }

    /// <summary>A time from a typed model (the client reads RFC 3339 into DateTime) as a UTC instant.</summary>
    private static DateTimeOffset? At(DateTime? t) => t is not { } v ? null
        : new DateTimeOffset(v.Kind == DateTimeKind.Local ? v.ToUniversalTime() : DateTime.SpecifyKind(v, DateTimeKind.Utc));

    private static DateTimeOffset? CreatedAt(JsonObject obj) => Time(obj["metadata"]?["creationTimestamp"]);

    private static DateTimeOffset? Time(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue<string>(out var s) && DateTimeOffset.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t) ? t : null;

    private static DateTimeOffset? Latest(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

    [LoggerMessage(EventId = 4200, Level = LogLevel.Information, Message = "not allowed to read Secret {Secret}; skipping the check that it exists")]
    private static partial void LogSecretCheckForbidden(ILogger logger, string secret);

    [LoggerMessage(EventId = 4201, Level = LogLevel.Warning, Message = "not ready: {Reason}: {Message}")]
    private static partial void LogNotReady(ILogger logger, string reason, string message);

    [LoggerMessage(EventId = 4202, Level = LogLevel.Information, Message = "recorded Job {Job} ({Type}) generation {Generation}")]
    private static partial void LogJobRecorded(ILogger logger, string job, string type, long generation);

    [LoggerMessage(EventId = 4203, Level = LogLevel.Information, Message = "recorded Job {Job} ({Type}) from its pod; the Job itself is gone")]
    private static partial void LogVanishedJobRecorded(ILogger logger, string job, string type);

    [LoggerMessage(EventId = 4204, Level = LogLevel.Information, Message = "resuming CronJob {Name}: lastScheduleTime set to {LastScheduleTime:O}, so the runs missed while suspended do not start now")]
    private static partial void LogResumeHeld(ILogger logger, string name, DateTimeOffset lastScheduleTime);

    [LoggerMessage(EventId = 4205, Level = LogLevel.Information, Message = "run-now: started {Type} Job {Job}")]
    private static partial void LogRunNow(ILogger logger, string type, string job);

    [LoggerMessage(EventId = 4206, Level = LogLevel.Warning, Message = "{Message}")]
    private static partial void LogRunUnreadable(ILogger logger, string message);
}
