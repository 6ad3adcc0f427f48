using System.Diagnostics;
using BulkExport.Api;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Publishing.Retention;
using BulkExport.Publishing.Signing;
using BulkExport.Exporter.Sources;
using BulkExport.Publishing.Stores;
using Microsoft.Extensions.Logging;

namespace BulkExport.Exporter.Pipeline;

internal enum RunKind
{
    Total,
    Delta,
}

/// <summary>Where a run may stop on purpose, so tests can show a crash at each point loses nothing.</summary>
internal enum CrashPoint
{
    None,
    AfterClaim,
    MidWrite,
    BeforeCommit,
    AfterCommit,
}

internal sealed class ExportRunnerOptions
{
    /// <summary>Where staged files and sort runs go; in a pod, the /tmp emptyDir.</summary>
    public string TempRoot { get; set; } = Path.GetTempPath();

    public string? JobName { get; set; }

    /// <summary>Signs the manifest and the catalog; null when <c>spec.signing</c> is absent.</summary>
    public PublicationSigner? Signer { get; set; }

    /// <summary>Test hook: throw <see cref="SimulatedCrashException"/> at this point.</summary>
    public CrashPoint CrashAt { get; set; } = CrashPoint.None;
}

/// <summary>
/// One export run of a register: claim the next generation, read every entity from one snapshot,
/// write and upload its files, commit the manifest, then apply retention and rewrite the catalog.
/// </summary>
internal sealed partial class ExportRunner(
    ExportSchedule schedule,
    ISource source,
    IObjectStore store,
    TimeProvider time,
    ILogger<ExportRunner> logger,
    IExportProgress progress,
    ExportRunnerOptions options)
{
    public async Task<RunSummary> RunAsync(RunKind kind, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var spec = schedule.Spec;
        var ledger = new GenerationLedger(store, spec.Register);
        var ledgerState = await ledger.ReadAsync(cancellationToken).ConfigureAwait(false);
        var claimant = $"{options.JobName ?? Environment.MachineName} {time.GetUtcNow():O}";
        var generation = await ledger.ClaimAsync(ledgerState, claimant, cancellationToken).ConfigureAwait(false);
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["register"] = spec.Register, ["generation"] = generation });
        LogClaimed(spec.Register, generation, kind, ledgerState.Latest?.Generation);
        Crash(CrashPoint.AfterClaim);

        var abandoned = RunTempDirectory.DeleteAbandoned(options.TempRoot);
        if (abandoned.Count > 0)
        {
            LogAbandonedTemp(abandoned.Count, options.TempRoot);
        }

        // Disposing deletes the staging folder; a killed run's folder is deleted by a later run (above).
        using (var temp = RunTempDirectory.Create(options.TempRoot))
        {
            var manifest = await ExportAsync(kind, generation, ledger, ledgerState, temp.FullName, cancellationToken).ConfigureAwait(false);
            Crash(CrashPoint.BeforeCommit);
            await ledger.CommitAsync(manifest, cancellationToken, options.Signer).ConfigureAwait(false);
            LogCommitted(spec.Register, generation, manifest.Files.Count);
            Crash(CrashPoint.AfterCommit);

            var retention = await new RetentionRunner(store, spec.Register, GoDuration.Parse(spec.Retention.Orphans), time, options.Signer)
                .RunAsync(dryRun: false, cancellationToken).ConfigureAwait(false);
            LogRetention(retention.DeletedFiles, retention.DeletedBytes, retention.Plan.Missing.Count);

            return new RunSummary
            {
                Register = spec.Register,
                Run = kind == RunKind.Total ? "total" : "delta",
                Generation = generation,
                BaseGeneration = manifest.BaseGeneration,
                Types = kind == RunKind.Total ? [FileNaming.TotalDownload, FileNaming.DeltaDownload] : [FileNaming.DeltaDownload],
                PointInTime = manifest.PointInTime,
                CompletionTime = time.GetUtcNow(),
                Files = manifest.Files.Count,
                Records = manifest.Files.Sum(f => f.RecordCount),
                Bytes = manifest.Files.Sum(f => f.SizeBytes),
                PrunedFiles = retention.DeletedFiles,
                PrunedBytes = retention.DeletedBytes,
                DurationSeconds = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 3),
            };
        }
    }

    private async Task<GenerationManifest> ExportAsync(RunKind kind, long generation, GenerationLedger ledger, LedgerState ledgerState, string temp, CancellationToken cancellationToken)
    {
        var spec = schedule.Spec;
        var baseManifest = ledgerState.Latest;
        await using var snapshot = await source.OpenSnapshotAsync(cancellationToken).ConfigureAwait(false);
        var pointInTime = snapshot.PointInTime.ToUniversalTime();
        if (baseManifest is not null && pointInTime < baseManifest.PointInTime)
        {
            throw new InvalidOperationException(
                $"the source's point in time {pointInTime:O} is before the base generation {baseManifest.Generation}'s {baseManifest.PointInTime:O}; generations' points in time must not go backwards (check the source's clock)");
        }

        var lastTotals = kind == RunKind.Total
            ? await FindLastTotalsAsync(ledger, ledgerState, cancellationToken).ConfigureAwait(false)
            : new Dictionary<string, List<ManifestFile>>();
        var context = new GenerationContext(schedule, generation, kind == RunKind.Total, pointInTime, baseManifest, lastTotals, temp, store, progress) { Logger = logger };

        var outcomes = new EntityOutcome[spec.Entities.Count];
        var parallelism = Math.Max(1, Math.Min(snapshot.MaxParallelReaders, spec.Entities.Count));
        await Parallel.ForEachAsync(Enumerable.Range(0, spec.Entities.Count), new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            var entity = spec.Entities[i];
            using var entityScope = logger.BeginScope(new Dictionary<string, object> { ["entity"] = entity.Name });
            progress.EntityStarted(entity.Name);
            outcomes[i] = await new EntityExport(context, entity).RunAsync(snapshot, ct).ConfigureAwait(false);
            LogEntity(entity.Name, outcomes[i].Entity.Records, outcomes[i].DeltaRecords, outcomes[i].Files.Count, outcomes[i].Bytes);
            if (i == 0)
            {
                Crash(CrashPoint.MidWrite);
            }
        }).ConfigureAwait(false);

        var generationTime = time.GetUtcNow();
        var deltaRetention = GoDuration.Parse(spec.Retention.Deltas);
        var totalRetention = GoDuration.Parse(spec.Retention.Totals);
        var files = outcomes.SelectMany(o => o.Files).ToList();
        foreach (var file in files)
        {
            file.ExpirationDate = generationTime + (file.TypeOfDownload == FileNaming.TotalDownload ? totalRetention : deltaRetention);
        }

        return new GenerationManifest
        {
            Register = spec.Register,
            Version = spec.Version,
            Generation = generation,
            BaseGeneration = baseManifest?.Generation,
            Run = kind == RunKind.Total ? "total" : "delta",
            PointInTime = pointInTime,
            BasePointInTime = baseManifest?.PointInTime,
            GenerationTime = generationTime,
            Job = options.JobName,
            TotalFrequency = Frequency(spec.Total.Schedule, spec.TimeZone),
            DeltaFrequency = Frequency(spec.Delta.Schedule, spec.TimeZone),
            Entities = [.. outcomes.Select(o => o.Entity)],
            Files = files,
        };
    }

    private static string Frequency(string cron, string timeZone) => $"{cron} ({timeZone})";

    /// <summary>The files of the newest committed total of each group, the candidates for a re-issue.</summary>
    private static async Task<Dictionary<string, List<ManifestFile>>> FindLastTotalsAsync(GenerationLedger ledger, LedgerState state, CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, List<ManifestFile>>(StringComparer.Ordinal);
        for (var i = state.Committed.Count - 1; i >= 0; i--)
        {
            var manifest = await ledger.ReadManifestAsync(state.Committed[i], cancellationToken).ConfigureAwait(false);
            if (manifest is null || manifest.Run != "total")
            {
                continue;
            }

            foreach (var group in manifest.Files.Where(f => f.TypeOfDownload == FileNaming.TotalDownload).GroupBy(f => f.GroupKey(manifest.Register, manifest.Version)))
            {
                result.TryAdd(group.Key, [.. group]);
            }

            // The newest total run covers every configured group; older ones only matter for groups it lacks.
            if (result.Count > 0)
            {
                break;
            }
        }

        return result;
    }

    private void Crash(CrashPoint point)
    {
        if (options.CrashAt == point)
        {
            throw new SimulatedCrashException(point);
        }
    }

    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "Claimed generation {Generation} of {Register} for a {Kind} run (base: {Base})")]
    private partial void LogClaimed(string register, long generation, RunKind kind, long? @base);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Entity {Entity}: {Rows} rows, {DeltaRows} delta rows, {Files} files, {Bytes} bytes")]
    private partial void LogEntity(string entity, long rows, long deltaRows, int files, long bytes);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Committed generation {Generation} of {Register} with {Files} files")]
    private partial void LogCommitted(string register, long generation, int files);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Deleted {Count} staging folders that crashed runs left in {TempRoot}")]
    private partial void LogAbandonedTemp(int count, string tempRoot);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "Retention deleted {Files} objects ({Bytes} bytes); {Missing} referenced files are missing from the store")]
    private partial void LogRetention(long files, long bytes, int missing);
}

internal sealed class SimulatedCrashException(CrashPoint point) : Exception($"simulated crash at {point}")
{
    public CrashPoint Point { get; } = point;
}
