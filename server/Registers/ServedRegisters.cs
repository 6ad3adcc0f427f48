using BulkExport.Api;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Stores;
using BulkExport.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace BulkExport.Server.Registers;

/// <summary>One register the service serves: where it is published (read-only) and who may read it.</summary>
internal sealed class ServedRegister(string code, IObjectReader reader, RegisterAccess access, string storageIdentity = "")
{
    /// <summary>The schedule's storage, serialized: a discovered register with other storage is a new register.</summary>
    public string StorageIdentity { get; } = storageIdentity;

    private volatile RegisterSnapshot _snapshot = RegisterSnapshot.Empty(code);

    public string Code { get; } = code;

    public IObjectReader Reader { get; } = reader;

    /// <summary>Files are delivered by presigned URL (an S3 store), not by the service.</summary>
    public bool Presigns { get; } = reader.PresignGet("probe", TimeSpan.FromMinutes(1), null) is not null;

    public RegisterAccess Access { get; } = access;

    public RegisterSnapshot Snapshot => _snapshot;

    /// <summary>True once the catalog has been read (or found absent) at least once.</summary>
    public bool Loaded { get; private set; }

    /// <summary>
    /// A conditional GET of the catalog: unchanged (by the store's answer or by an equal ETag, for stores
    /// that ignore If-None-Match) keeps the snapshot; a changed one is parsed and swapped in.
    /// </summary>
    public async Task<bool> RefreshAsync(CancellationToken cancellationToken)
    {
        var current = _snapshot;
        var key = FileNaming.CatalogKey(Code);
        await using var read = await Reader.ReadAsync(key, new ReadConditions(IfNoneMatch: current.ETag.Length > 0 ? current.ETag : null), cancellationToken).ConfigureAwait(false);
        Loaded = true;
        switch (read.Outcome)
        {
            case ReadOutcome.NotModified:
                return false;
            case ReadOutcome.NotFound:
                if (current.ETag.Length == 0)
                {
                    return false;
                }

                _snapshot = RegisterSnapshot.Empty(Code);
                return true;
        }

        if (string.Equals(read.ETag, current.ETag, StringComparison.Ordinal))
        {
            return false;
        }

        var catalog = Catalog.FromBytes(await read.ReadAllBytesAsync(cancellationToken).ConfigureAwait(false), Reader.Describe(key));
        _snapshot = RegisterSnapshot.From(Code, read.ETag, catalog);
        return true;
    }
}

/// <summary>
/// Every register served, by code: those of the <c>--config</c> schedules, fixed at start, and in
/// cluster mode those of the ExportSchedules found in the namespaces, replaced on every refresh.
/// Readers see one consistent set (swapped as a whole).
/// </summary>
internal sealed class ServedRegisters
{
    private readonly ServerSettings _settings;
    private readonly Func<StorageSpec, IObjectReader> _openReader;
    private readonly Func<StorageSpec, Amazon.Runtime.AWSCredentials, IObjectReader>? _openWithCredentials;
    private readonly IReadOnlyList<ServedRegister> _fixed;
    private volatile State _state;

    private ServedRegisters(ServerSettings settings, Func<StorageSpec, IObjectReader> openReader, IReadOnlyList<ServedRegister> fixedRegisters, Func<StorageSpec, Amazon.Runtime.AWSCredentials, IObjectReader>? openWithCredentials)
    {
        _settings = settings;
        _openReader = openReader;
        _openWithCredentials = openWithCredentials;
        _fixed = fixedRegisters;
        _state = new State(fixedRegisters, []);
    }

    public IReadOnlyList<ServedRegister> All => _state.All;

    /// <summary>The <c>--config</c> registers; readiness waits for them (a discovered register whose store is down only logs).</summary>
    public IReadOnlyList<ServedRegister> Fixed => _fixed;

    /// <summary>From the settings, so the answer to anonymous callers does not depend on what was discovered.</summary>
    public bool AnyRestricted => _settings.Registers.Values.Any(a => !a.IsPublic);

    public ServedRegister? Find(string code) => _state.ByCode.GetValueOrDefault(code);

    /// <summary>
    /// Builds the set from the <c>--config</c> schedules; two schedules of one register, or settings for a
    /// register no schedule publishes (unless schedules are also discovered in the cluster), are errors.
    /// </summary>
    public static ServedRegisters FromSchedules(IReadOnlyList<(ExportSchedule Schedule, string Source)> schedules, ServerSettings settings, Func<StorageSpec, IObjectReader> openReader, bool discovering = false, Func<StorageSpec, Amazon.Runtime.AWSCredentials, IObjectReader>? openWithCredentials = null)
    {
        var errors = new List<ValidationError>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        var registers = new List<ServedRegister>();
        foreach (var (schedule, source) in schedules)
        {
            var code = schedule.Spec.Register;
            if (seen.TryGetValue(code, out var first))
            {
                errors.Add(new ValidationError($"{source}: spec.register", $"register {code} is already served from {first}; one schedule per register"));
                continue;
            }

            seen[code] = source;
            registers.Add(new ServedRegister(code, openReader(schedule.Spec.Storage), settings.AccessOf(code), StorageIdentity(schedule)));
        }

        if (!discovering)
        {
            foreach (var code in settings.Registers.Keys.Where(c => !seen.ContainsKey(c)))
            {
                errors.Add(new ValidationError($"registers.{code}", "no --config schedule publishes this register"));
            }
        }

        return errors.Count > 0 ? throw new ConfigurationException("configuration", errors) : new ServedRegisters(settings, openReader, registers, openWithCredentials);
    }

    /// <summary>
    /// Replaces the discovered registers. A register whose storage is unchanged keeps its reader and
    /// catalog snapshot; a second schedule of a register already served is ignored (the first by
    /// namespace/name wins). Returns what was ignored, for the log.
    /// </summary>
    public IReadOnlyList<string> Replace(IReadOnlyList<Cluster.DiscoveredSchedule> discovered)
    {
        var current = _state;
        var ignored = new List<string>();
        var taken = _fixed.Select(r => r.Code).ToHashSet(StringComparer.Ordinal);
        var next = new List<ServedRegister>();
        foreach (var (schedule, source, credentials, credentialsId) in discovered.OrderBy(d => d.Source, StringComparer.Ordinal))
        {
            var code = schedule.Spec.Register;
            if (!taken.Add(code))
            {
                ignored.Add($"{source}: register {code} is already served from another schedule");
                continue;
            }

            // The credentials' id is part of the identity: a rotated Secret gets a new reader.
            var identity = StorageIdentity(schedule) + "|" + credentialsId;
            var existing = current.Discovered.FirstOrDefault(r => r.Code == code && r.StorageIdentity == identity);
            next.Add(existing ?? new ServedRegister(
                code,
                credentials is not null && _openWithCredentials is not null ? _openWithCredentials(schedule.Spec.Storage, credentials) : _openReader(schedule.Spec.Storage),
                _settings.AccessOf(code),
                identity));
        }

        _state = new State(_fixed, next);
        return ignored;
    }

    private static string StorageIdentity(ExportSchedule schedule) =>
        System.Text.Json.JsonSerializer.Serialize(schedule.Spec.Storage, ScheduleDocument.JsonOptions);

    private sealed class State
    {
        public State(IReadOnlyList<ServedRegister> fixedRegisters, IReadOnlyList<ServedRegister> discovered)
        {
            Discovered = discovered;
            All = [.. fixedRegisters.Concat(discovered).OrderBy(r => r.Code, StringComparer.Ordinal)];
            ByCode = All.ToDictionary(r => r.Code, StringComparer.OrdinalIgnoreCase);
        }

        public IReadOnlyList<ServedRegister> Discovered { get; }

        public IReadOnlyList<ServedRegister> All { get; }

        public Dictionary<string, ServedRegister> ByCode { get; }
    }
}

/// <summary>Reads every catalog at start and then every refresh interval, and re-reads the credentials file.</summary>
internal sealed partial class CatalogRefresher(ServedRegisters registers, Access.CredentialStore credentials, ServerSettings settings, TimeProvider time, ILogger<CatalogRefresher> logger, Cluster.ClusterSchedules? cluster = null)
    : Microsoft.Extensions.Hosting.BackgroundService
{
    /// <summary>False while cluster mode has not yet listed the schedules once.</summary>
    public bool Discovered { get; private set; } = cluster is null;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await RefreshAllAsync(cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task RefreshAllAsync(CancellationToken cancellationToken)
    {
        if (cluster is not null)
        {
            try
            {
                foreach (var ignored in registers.Replace(await cluster.ListAsync(cancellationToken).ConfigureAwait(false)))
                {
                    ScheduleIgnored(ignored);
                }

                Discovered = true;
            }
            catch (Exception e) when ((e is HttpRequestException or System.Text.Json.JsonException or TaskCanceledException or k8s.Autorest.HttpOperationException) && !cancellationToken.IsCancellationRequested)
            {
                // The registers found last time keep being served.
                DiscoveryFailed(e.Message);
            }
        }

        foreach (var register in registers.All)
        {
            try
            {
                if (await register.RefreshAsync(cancellationToken).ConfigureAwait(false))
                {
                    CatalogChanged(register.Code, register.Snapshot.Rows.Count, register.Snapshot.ETag);
                    CheckPresignLifetime(register);
                }
            }
            catch (Exception e) when (e is StoreException or InvalidDataException or IOException)
            {
                // The previous snapshot keeps serving; readiness reports a register never loaded.
                CatalogRefreshFailed(register.Code, e.Message);
            }
        }

        try
        {
            if (credentials.Reload())
            {
                CredentialsReloaded(credentials.Path!, credentials.Current.Keys.Count, credentials.Current.Users.Count);
            }
        }
        catch (ConfigurationException e)
        {
            CredentialsRejected(e.Message);
        }
    }

    /// <summary>
    /// SigV4 caps a presigned URL at seven days. A file the slowest promised consumer cannot fetch in that
    /// time is still served (a consumer asks again and resumes with Range and the same ETag), but the
    /// promise does not hold, and the operator hears which file and which setting, once per catalog.
    /// </summary>
    private void CheckPresignLifetime(ServedRegister register)
    {
        if (!register.Presigns || register.Snapshot.Largest is not { } largest)
        {
            return;
        }

        var needed = settings.PresignNeeded(largest.SizeBytes);
        if (needed > ServerSettings.MaxPresignLifetime)
        {
            PresignTooShort(register.Code, largest.Filename, largest.SizeBytes, needed.TotalHours, settings.PresignMinimumBandwidth);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Cluster mode: the watches keep the schedules current and wake this loop on every change, so a
        // new schedule is served at once; catalogs and credentials are still checked every interval.
        var watching = Task.CompletedTask;
        using var wake = new SemaphoreSlim(0);
        if (cluster is not null)
        {
            cluster.Changed += () => wake.Release();
            watching = cluster.RunAsync(stoppingToken);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            using (var waiting = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
            {
                var delay = Task.Delay(settings.RefreshInterval, time, waiting.Token);
                var changed = wake.WaitAsync(waiting.Token);
                await Task.WhenAny(delay, changed).ConfigureAwait(false);
                await waiting.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(delay, changed).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (changed.IsCompletedSuccessfully)
                {
                    // Several changes at once make one refresh.
                    while (wake.CurrentCount > 0)
                    {
                        await wake.WaitAsync(stoppingToken).ConfigureAwait(false);
                    }
                }
            }

            if (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            await RefreshAllAsync(stoppingToken).ConfigureAwait(false);
        }

        await watching.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "catalog of {Register} loaded: {Files} files (etag {ETag})")]
    private partial void CatalogChanged(string register, int files, string etag);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "catalog of {Register} could not be read; serving the previous one: {Reason}")]
    private partial void CatalogRefreshFailed(string register, string reason);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "credentials reloaded from {Path}: {Keys} API keys, {Users} users")]
    private partial void CredentialsReloaded(string path, int keys, int users);

    [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "ExportSchedule ignored: {Reason}")]
    private partial void ScheduleIgnored(string reason);

    [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "ExportSchedules could not be listed; serving the registers found before: {Reason}")]
    private partial void DiscoveryFailed(string reason);

    [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "register {Register}: {Filename} ({Bytes} bytes) needs {Hours:0} h at presignMinimumBandwidth {BytesPerSecond} B/s, more than the 168 h a presigned URL may live; its URLs live 168 h. Raise presignMinimumBandwidth or split the entity's files smaller")]
    private partial void PresignTooShort(string register, string filename, long bytes, double hours, long bytesPerSecond);

    [LoggerMessage(EventId = 103, Level = LogLevel.Error, Message = "credentials file rejected; the previous credentials stay in force: {Reason}")]
    private partial void CredentialsRejected(string reason);
}
