using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Exporter.Verification;
using BulkExport.Publishing.Verification;
using BulkExport.Publishing.Retention;
using BulkExport.Publishing.Signing;
using BulkExport.Exporter.Sources;
using BulkExport.Publishing.Stores;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BulkExport.Exporter.Cli;

/// <summary>
/// <c>exporter run|list|verify|gc</c>. Exit codes: 0 success, 1 failure, 2 bad configuration or
/// usage, 75 temporary failure (worth retrying later).
/// </summary>
internal static class ExporterCommandLine
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = Build();
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                await Console.Error.WriteLineAsync($"error: {error.Message}").ConfigureAwait(false);
            }

            await Console.Error.WriteLineAsync("Run 'exporter --help' for usage.").ConfigureAwait(false);
            return ExporterEnvironment.ExitCodes.BadConfiguration;
        }

        return await parsed.InvokeAsync().ConfigureAwait(false);
    }

    internal static RootCommand Build()
    {
        var config = new Option<FileInfo>("--config", "-c")
        {
            Description = "ExportSchedule YAML (the same file kubectl apply takes)",
            Required = true,
        };

        var type = new Option<string>("--type", "-t")
        {
            Description = "total: totals and deltas; delta: deltas only",
            DefaultValueFactory = _ => "delta",
        };
        type.AcceptOnlyFromAmong("total", "delta");
        var temp = new Option<DirectoryInfo?>("--temp") { Description = "Directory for staged files (default: the system temp directory)" };
        var run = new Command("run", "Export one generation of the register: claim, read, write, commit, apply retention") { config, type, temp };
        run.SetAction((result, ct) => RunExportAsync(result.GetValue(config)!, result.GetValue(type)!, result.GetValue(temp), ct));

        var json = new Option<bool>("--json") { Description = "Print the catalog rows as JSON" };
        var list = new Command("list", "List the live files of the register's catalog") { config, json };
        list.SetAction((result, ct) => ListAsync(result.GetValue(config)!, result.GetValue(json), ct));

        var storeCheck = new Option<bool>("--store") { Description = "Also check whether the store honours conditional writes (If-None-Match)" };
        var publicKeys = new Option<FileInfo[]>("--public-key")
        {
            Description = "Public key (PEM or JWK) whose signatures to require on every manifest and the catalog; repeat to trust several",
            AllowMultipleArgumentsPerToken = false,
        };
        var verify = new Command("verify", "Re-hash every live file and check the catalog, the delta chain and, with --public-key, the signatures") { config, storeCheck, publicKeys };
        verify.SetAction((result, ct) => VerifyAsync(result.GetValue(config)!, result.GetValue(storeCheck), result.GetValue(publicKeys) ?? [], ct));

        var dryRun = new Option<bool>("--dry-run") { Description = "Show what retention would delete without deleting" };
        var gc = new Command("gc", "Apply the retention rules and rewrite the catalog") { config, dryRun };
        gc.SetAction((result, ct) => GcAsync(result.GetValue(config)!, result.GetValue(dryRun), ct));

        return new RootCommand("BulkExport exporter: publishes total and delta downloads of a register") { run, list, verify, gc };
    }

    private static async Task<int> RunExportAsync(FileInfo config, string type, DirectoryInfo? temp, CancellationToken cancellationToken)
    {
        var kind = type == "total" ? RunKind.Total : RunKind.Delta;
        return await WithScheduleAsync(config, type, async (services, schedule) =>
        {
            using var signer = SignerFactory.Create(schedule.Spec.Signing);
            var runner = new ExportRunner(
                schedule,
                services.GetRequiredService<ISource>(),
                services.GetRequiredService<IObjectStore>(),
                services.GetRequiredService<TimeProvider>(),
                services.GetRequiredService<ILogger<ExportRunner>>(),
                services.GetRequiredService<IExportProgress>(),
                new ExportRunnerOptions
                {
                    TempRoot = temp?.FullName ?? Path.GetTempPath(),
                    JobName = Environment.GetEnvironmentVariable(ExporterEnvironment.JobName),
                    Signer = signer,
                });
            var summary = await runner.RunAsync(kind, cancellationToken).ConfigureAwait(false);
            await SummaryOutput.WriteAsync(summary).ConfigureAwait(false);
            return ExporterEnvironment.ExitCodes.Success;
        }).ConfigureAwait(false);
    }

    private static Task<int> ListAsync(FileInfo config, bool json, CancellationToken cancellationToken) =>
        WithScheduleAsync(config, "list", async (services, schedule) =>
        {
            var store = services.GetRequiredService<IObjectStore>();
            var key = FileNaming.CatalogKey(schedule.Spec.Register);
            var bytes = await store.GetBytesAsync(key, cancellationToken).ConfigureAwait(false);
            if (bytes is null)
            {
                await Console.Error.WriteLineAsync($"{store.Describe(key)}: no catalog yet (no generation has been committed)").ConfigureAwait(false);
                return ExporterEnvironment.ExitCodes.Failure;
            }

            var catalog = Catalog.FromBytes(bytes, store.Describe(key));
            if (json)
            {
                await Console.Out.WriteLineAsync(JsonSerializer.Serialize(catalog.Files, Catalog.RowsTypeInfo)).ConfigureAwait(false);
            }
            else
            {
                CatalogTable.Write(catalog, Console.Out);
            }

            return ExporterEnvironment.ExitCodes.Success;
        });

    private static Task<int> VerifyAsync(FileInfo config, bool checkStore, FileInfo[] publicKeys, CancellationToken cancellationToken) =>
        WithScheduleAsync(config, "verify", async (services, schedule) =>
        {
            var store = services.GetRequiredService<IObjectStore>();
            var anchors = publicKeys.Select(LoadPublicKey).ToList();
            var ok = true;
            if (checkStore)
            {
                var check = await StoreDiagnostics.CheckConditionalWritesAsync(store, cancellationToken).ConfigureAwait(false);
                await Console.Out.WriteLineAsync(check.Passed
                    ? $"store: conditional writes are honoured (generation claims and commits are safe against concurrent runs): {check.Detail}"
                    : $"store: conditional writes are NOT honoured: two runs started at once could claim or commit the same generation; run one exporter per register at a time: {check.Detail}").ConfigureAwait(false);
                ok &= check.Passed;
            }

            ok &= await VerifySignaturesAsync(store, schedule.Spec.Register, anchors, cancellationToken).ConfigureAwait(false);
            var geometryColumns = schedule.Spec.Entities.Where(e => e.Geometry is { Column.Length: > 0 }).ToDictionary(e => e.Name, e => e.Geometry!.Column, StringComparer.Ordinal);
            var report = await new Verifier(store, schedule.Spec.Register, geometryColumns, ExporterRecordReaders.All).VerifyAsync(cancellationToken).ConfigureAwait(false);
            foreach (var warning in report.Warnings)
            {
                await Console.Out.WriteLineAsync($"warning: {warning}").ConfigureAwait(false);
            }

            foreach (var problem in report.Problems)
            {
                await Console.Out.WriteLineAsync($"problem: {problem}").ConfigureAwait(false);
            }

            await Console.Out.WriteLineAsync(report.Ok
                ? $"verified {report.Files} files ({ConsoleProgress.Bytes(report.Bytes)}): checksums, catalog and delta chain are consistent; {report.FingerprintedFiles} files re-fingerprinted, {report.Replays} total + deltas replays match the manifests' fingerprints"
                : $"{report.Problems.Count} problem(s) in {report.Files} files").ConfigureAwait(false);
            return ok && report.Ok ? ExporterEnvironment.ExitCodes.Success : ExporterEnvironment.ExitCodes.Failure;
        });

    private static SigningJwk LoadPublicKey(FileInfo file)
    {
        try
        {
            return SigningJwk.Parse(File.ReadAllText(file.FullName), $"--public-key {file.FullName}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SigningKeyException($"--public-key {file.FullName}: cannot read: {e.Message}", e);
        }
    }

    /// <summary>One line when nothing is checked; every missing or wrong signature otherwise.</summary>
    private static async Task<bool> VerifySignaturesAsync(IObjectStore store, string register, IReadOnlyList<SigningJwk> anchors, CancellationToken cancellationToken)
    {
        var verifier = new SignatureVerifier(store, register);
        if (anchors.Count == 0)
        {
            await Console.Out.WriteLineAsync(await verifier.AnySignaturesAsync(cancellationToken).ConfigureAwait(false)
                ? $"signatures: not checked; {register} is signed (keys under {store.Describe(FileNaming.KeysFolder(register))}), pass --public-key to check them"
                : $"signatures: none; {register} is not signed (no spec.signing), nothing to check").ConfigureAwait(false);
            return true;
        }

        var report = await verifier.VerifyAsync(anchors, cancellationToken).ConfigureAwait(false);
        foreach (var problem in report.Problems)
        {
            await Console.Out.WriteLineAsync($"problem: {problem}").ConfigureAwait(false);
        }

        await Console.Out.WriteLineAsync(report.Ok
            ? $"signatures: {report.Signed} objects (manifests and the catalog) signed by trusted keys ({string.Join(", ", anchors.Select(a => a.Kid))} and the keys they announce)"
            : $"signatures: {report.Problems.Count} problem(s)").ConfigureAwait(false);
        return report.Ok;
    }

    private static Task<int> GcAsync(FileInfo config, bool dryRun, CancellationToken cancellationToken) =>
        WithScheduleAsync(config, "gc", async (services, schedule) =>
        {
            var spec = schedule.Spec;
            using var signer = dryRun ? null : SignerFactory.Create(spec.Signing);
            var result = await new RetentionRunner(services.GetRequiredService<IObjectStore>(), spec.Register, GoDuration.Parse(spec.Retention.Orphans), services.GetRequiredService<TimeProvider>(), signer)
                .RunAsync(dryRun, cancellationToken).ConfigureAwait(false);
            foreach (var obj in result.Plan.Delete.OrderBy(o => o.Key, StringComparer.Ordinal))
            {
                await Console.Error.WriteLineAsync($"{(dryRun ? "would delete" : "deleted")} {obj.Key} ({obj.Size} bytes)").ConfigureAwait(false);
            }

            foreach (var file in result.Plan.Missing)
            {
                await Console.Error.WriteLineAsync($"missing: {file.Key} is referenced by a manifest but not in the store; left out of the catalog").ConfigureAwait(false);
            }

            await SummaryOutput.WriteAsync(new RunSummary
            {
                Register = spec.Register,
                Run = "gc",
                PrunedFiles = result.DeletedFiles,
                PrunedBytes = result.DeletedBytes,
                CompletionTime = DateTimeOffset.UtcNow,
            }).ConfigureAwait(false);
            return ExporterEnvironment.ExitCodes.Success;
        });

    /// <summary>Loads the config (exit 2 on any problem, nothing touched), builds services, maps failures to exit codes.</summary>
    private static async Task<int> WithScheduleAsync(FileInfo config, string run, Func<IServiceProvider, ExportSchedule, Task<int>> action)
    {
        ExportSchedule schedule;
        try
        {
            schedule = ScheduleDocument.LoadFile(config.FullName);
        }
        catch (ScheduleValidationException e)
        {
            await Console.Error.WriteLineAsync($"error: {config.Name} is not a valid ExportSchedule:").ConfigureAwait(false);
            foreach (var error in e.Errors)
            {
                await Console.Error.WriteLineAsync($"  {error}").ConfigureAwait(false);
            }

            await SummaryOutput.WriteFailureAsync(run, null, ExporterEnvironment.ExitCodes.BadConfiguration, string.Join("; ", e.Errors)).ConfigureAwait(false);
            return ExporterEnvironment.ExitCodes.BadConfiguration;
        }

        var interactive = !Console.IsErrorRedirected;
        await using var services = new ServiceCollection().AddExporter(schedule, interactive).BuildServiceProvider();
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("BulkExport.Exporter");
        try
        {
            return await action(services, schedule).ConfigureAwait(false);
        }
        catch (Exception e) when (Classify(e) is var code && code != ExporterEnvironment.ExitCodes.Success)
        {
            var message = e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerException!.Message : e.Message;
            CliLog.RunFailed(logger, run, schedule.Spec.Register, code, message, e);
            await Console.Error.WriteLineAsync($"error: {message}").ConfigureAwait(false);
            await SummaryOutput.WriteFailureAsync(run, schedule.Spec.Register, code, message).ConfigureAwait(false);
            return code;
        }
    }

    internal static int Classify(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Classify(a.InnerException!),
        OperationCanceledException => ExporterEnvironment.ExitCodes.TemporaryFailure,
        SourceException { Transient: true } or StoreException { Transient: true } or CommitConflictException => ExporterEnvironment.ExitCodes.TemporaryFailure,
        NotSupportedException => ExporterEnvironment.ExitCodes.BadConfiguration,
        ScheduleValidationException or SigningKeyException => ExporterEnvironment.ExitCodes.BadConfiguration,
        _ => ExporterEnvironment.ExitCodes.Failure,
    };
}

internal static partial class CliLog
{
    [LoggerMessage(EventId = 2010, Level = LogLevel.Error, Message = "{Run} of {Register} failed with exit code {ExitCode}: {Reason}")]
    public static partial void RunFailed(ILogger logger, string run, string register, int exitCode, string reason, Exception exception);
}

/// <summary>The JSON summary: stdout for people and scripts, the termination log for the operator.</summary>
internal static class SummaryOutput
{
    public static string TerminationLogPath =>
        Environment.GetEnvironmentVariable("BULKEXPORT_TERMINATION_LOG") ?? ExporterEnvironment.TerminationLogPath;

    public static async Task WriteAsync(RunSummary summary)
    {
        var bytes = Serialize(summary);
        await Console.Out.WriteLineAsync(System.Text.Encoding.UTF8.GetString(bytes)).ConfigureAwait(false);
        var path = TerminationLogPath;
        if (File.Exists(path) || Path.GetDirectoryName(path) is { } dir && dir != "/dev" && Directory.Exists(dir))
        {
            try
            {
                await File.WriteAllBytesAsync(path, bytes).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"warning: could not write the termination log {path}: {e.Message}").ConfigureAwait(false);
            }
        }
    }

    public static Task WriteFailureAsync(string run, string? register, int exitCode, string error) => WriteAsync(new RunSummary
    {
        Outcome = "Failed",
        Run = run,
        Register = register ?? "",
        ExitCode = exitCode,
        Error = error,
        CompletionTime = DateTimeOffset.UtcNow,
    });

    /// <summary>Serialized within the kubelet's 4 KiB termination-message limit (the error text gives way).</summary>
    public static byte[] Serialize(RunSummary summary)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(summary, ScheduleDocument.RunSummaryTypeInfo);
        if (bytes.Length <= RunSummary.MaxBytes || summary.Error is null)
        {
            return bytes;
        }

        var over = bytes.Length - RunSummary.MaxBytes + 16;
        summary.Error = summary.Error[..Math.Max(0, summary.Error.Length - over)] + "…";
        return Serialize(summary);
    }
}

internal static class CatalogTable
{
    public static void Write(Catalog catalog, TextWriter output)
    {
        output.WriteLine($"{catalog.Register}: generation {catalog.LatestGeneration?.ToString(CultureInfo.InvariantCulture) ?? "-"} at {catalog.LatestPointInTime:O}, {catalog.Files.Count} files");
        string[] header = ["Entity", "Download", "Format", "Data", "Gen", "Base", "Part", "Records", "Size", "Expires", "File"];
        var rows = catalog.Files.Select(r => new[]
        {
            r.EntityName,
            r.TypeOfDownload.Replace("Download", "", StringComparison.Ordinal),
            r.ContainedFileFormat,
            r.TypeOfData,
            r.GenerationNumber.ToString(CultureInfo.InvariantCulture),
            r.BaseGenerationNumber?.ToString(CultureInfo.InvariantCulture) ?? "",
            $"{r.Part}/{r.PartCount}",
            r.RecordCount.ToString("N0", CultureInfo.InvariantCulture),
            ConsoleProgress.Bytes(r.SizeBytes),
            r.ExpirationDate.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
            r.Filename,
        }).ToList();
        var widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        output.WriteLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var row in rows)
        {
            output.WriteLine(string.Join("  ", row.Select((c, i) => i == 7 ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd());
        }
    }
}
