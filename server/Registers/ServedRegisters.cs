using BulkExport.Api;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Stores;
using BulkExport.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace BulkExport.Server.Registers;

/// <summary>One register the service serves: where it is published (read-only) and who may read it.</summary>
internal sealed class ServedRegister(string code, IObjectReader reader, RegisterAccess access)
{
    private volatile RegisterSnapshot _snapshot = RegisterSnapshot.Empty(code);

    public string Code { get; } = code;

    public IObjectReader Reader { get; } = reader;

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

/// <summary>Every register of the <c>--config</c> schedules, by code.</summary>
internal sealed class ServedRegisters
{
    private readonly Dictionary<string, ServedRegister> _byCode;

    public ServedRegisters(IEnumerable<ServedRegister> registers)
    {
        All = [.. registers.OrderBy(r => r.Code, StringComparer.Ordinal)];
        _byCode = All.ToDictionary(r => r.Code, StringComparer.OrdinalIgnoreCase);
    }

    public IReadOnlyList<ServedRegister> All { get; }

    public bool AnyRestricted => All.Any(r => !r.Access.IsPublic);

    public ServedRegister? Find(string code) => _byCode.GetValueOrDefault(code);

    /// <summary>Builds the set from schedules; two schedules of one register, or settings for a register no schedule publishes, are errors.</summary>
    public static ServedRegisters FromSchedules(IReadOnlyList<(ExportSchedule Schedule, string Source)> schedules, ServerSettings settings, Func<StorageSpec, IObjectReader> openReader)
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
            registers.Add(new ServedRegister(code, openReader(schedule.Spec.Storage), settings.AccessOf(code)));
        }

        foreach (var code in settings.Registers.Keys.Where(c => !seen.ContainsKey(c)))
        {
            errors.Add(new ValidationError($"registers.{code}", "no --config schedule publishes this register"));
        }

        return errors.Count > 0 ? throw new ConfigurationException("configuration", errors) : new ServedRegisters(registers);
    }
}

/// <summary>Reads every catalog at start and then every refresh interval, and re-reads the credentials file.</summary>
internal sealed partial class CatalogRefresher(ServedRegisters registers, Access.CredentialStore credentials, ServerSettings settings, TimeProvider time, ILogger<CatalogRefresher> logger)
    : Microsoft.Extensions.Hosting.BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await RefreshAllAsync(cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task RefreshAllAsync(CancellationToken cancellationToken)
    {
        foreach (var register in registers.All)
        {
            try
            {
                if (await register.RefreshAsync(cancellationToken).ConfigureAwait(false))
                {
                    CatalogChanged(register.Code, register.Snapshot.Rows.Count, register.Snapshot.ETag);
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

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(settings.RefreshInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await RefreshAllAsync(stoppingToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "catalog of {Register} loaded: {Files} files (etag {ETag})")]
    private partial void CatalogChanged(string register, int files, string etag);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "catalog of {Register} could not be read; serving the previous one: {Reason}")]
    private partial void CatalogRefreshFailed(string register, string reason);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "credentials reloaded from {Path}: {Keys} API keys, {Users} users")]
    private partial void CredentialsReloaded(string path, int keys, int users);

    [LoggerMessage(EventId = 103, Level = LogLevel.Error, Message = "credentials file rejected; the previous credentials stay in force: {Reason}")]
    private partial void CredentialsRejected(string reason);
}
