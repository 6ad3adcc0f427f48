using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;
using BulkExport.Exporter.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace BulkExport.Exporter;

/// <summary>The exporter's one registration: logging, time, and the source and store the schedule names.</summary>
internal static class ExporterServiceCollectionExtensions
{
    public static IServiceCollection AddExporter(this IServiceCollection services, ExportSchedule schedule, bool interactive)
    {
        services.AddLogging(logging =>
        {
            logging.ClearProviders();
            logging.SetMinimumLevel(LogLevel.Information);
            logging.AddFilter("Microsoft", LogLevel.Warning);
            logging.AddFilter("System", LogLevel.Warning);
            if (interactive)
            {
                logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "HH:mm:ss ";
                    o.IncludeScopes = false;
                });
            }
            else
            {
                logging.AddJsonConsole(o =>
                {
                    o.IncludeScopes = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    o.UseUtcTimestamp = true;
                });
            }

            // stdout carries the run summary only; every log line goes to stderr.
            logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
        services.AddSingleton(schedule);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IObjectStore>(_ => StoreFactory.Create(schedule.Spec.Storage));
        services.AddSingleton<ISource>(sp => SourceFactory.Create(schedule, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IExportProgress>(interactive ? new ConsoleProgress(Console.Error) : NoProgress.Instance);
        return services;
    }
}

internal static class StoreFactory
{
    public static IObjectStore Create(StorageSpec storage)
    {
        if (storage.Local is { } local)
        {
            return new LocalObjectStore(local.Path);
        }

        throw new NotSupportedException("spec.storage.s3: the S3 store is not available in this build");
    }
}

internal static class SourceFactory
{
    public static ISource Create(ExportSchedule schedule, TimeProvider time)
    {
        var spec = schedule.Spec;
        if (spec.Source.Files is { } files)
        {
            return new FilesSource(files, spec.Entities, time);
        }

        throw new NotSupportedException("spec.source.postgres: the PostgreSQL source is not available in this build");
    }
}
