using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Sources;
using BulkExport.Publishing.Signing;
using BulkExport.Publishing.Stores;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace BulkExport.Exporter.Tests.Support;

/// <summary>A register in a temporary directory, an in-memory source and a fake clock.</summary>
internal sealed class ExportHarness : IDisposable
{
    public ExportHarness(Action<ExportScheduleSpec>? configure = null)
    {
        Root = Directory.CreateTempSubdirectory("bulkexport-test-").FullName;
        Store = new LocalObjectStore(Path.Combine(Root, "store"));
        // A fixed Monday night, so names and retention ages do not depend on when the tests run.
        Time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 5, 3, 0, 0, TimeSpan.Zero));
        Source = new InMemorySource(Time);
        Schedule = new ExportSchedule
        {
            Metadata = new ObjectMeta { Name = "test" },
            Spec = new ExportScheduleSpec
            {
                Register = "DAR",
                Total = new CronSchedule { Schedule = "0 3 * * 6" },
                Delta = new CronSchedule { Schedule = "0 3 * * *" },
                Source = new SourceSpec { Files = new FilesSourceSpec { Path = "unused" } },
                Output = new OutputSpec { Formats = [OutputFormats.JsonLines] },
                Storage = new StorageSpec { Local = new LocalStorageSpec { Path = Path.Combine(Root, "store") } },
            },
        };
        configure?.Invoke(Schedule.Spec);
    }

    public string Root { get; }

    public LocalObjectStore Store { get; }

    public FakeTimeProvider Time { get; }

    public InMemorySource Source { get; }

    public ExportSchedule Schedule { get; }

    public string Register => Schedule.Spec.Register;

    /// <summary>Signs every run's manifest and catalog when set.</summary>
    public PublicationSigner? Signer { get; set; }

    public ExportRunner Runner(CrashPoint crashAt = CrashPoint.None, ISource? source = null, IObjectStore? store = null, Microsoft.Extensions.Logging.ILogger<ExportRunner>? logger = null) => new(
        Schedule,
        source ?? Source,
        store ?? Store,
        Time,
        logger ?? NullLogger<ExportRunner>.Instance,
        NoProgress.Instance,
        new ExportRunnerOptions { TempRoot = Path.Combine(Root, "tmp"), CrashAt = crashAt, Signer = Signer });

    public async Task<RunSummary> RunAsync(RunKind kind, TimeSpan? advance = null, ISource? source = null, Microsoft.Extensions.Logging.ILogger<ExportRunner>? logger = null)
    {
        Directory.CreateDirectory(Path.Combine(Root, "tmp"));
        var summary = await Runner(source: source, logger: logger).RunAsync(kind, CancellationToken.None);
        Time.Advance(advance ?? TimeSpan.FromHours(1));
        return summary;
    }

    public async Task<Catalog> CatalogAsync() =>
        Catalog.FromBytes((await Store.GetBytesAsync(FileNaming.CatalogKey(Register), CancellationToken.None))!, "catalog");

    public Task<VerifyReport> VerifyAsync() => new Verifier(Store, Register, Schedule.Spec.Entities.Where(e => e.Geometry is { Column.Length: > 0 }).ToDictionary(e => e.Name, e => e.Geometry!.Column, StringComparer.Ordinal), BulkExport.Exporter.Verification.ExporterRecordReaders.All).VerifyAsync(CancellationToken.None);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
