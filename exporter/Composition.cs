using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Publishing.Stores;
using BulkExport.Publishing.Stores.S3;
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
        services.AddSingleton<IObjectStore>(sp => StoreFactory.Create(schedule.Spec.Storage, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<ISource>(sp => SourceFactory.Create(schedule, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<IExportProgress>(interactive ? new ConsoleProgress(Console.Error) : NoProgress.Instance);
        return services;
    }
}

internal static class StoreFactory
{
    public static IObjectStore Create(StorageSpec storage, TimeProvider time, ILoggerFactory loggers)
    {
        if (storage.Local is { } local)
        {
            return new LocalObjectStore(local.Path);
        }

        // The validator guarantees exactly one of local or s3.
        return new S3ObjectStore(storage.S3!, S3ObjectStore.CredentialsFromEnvironment(), time, loggers.CreateLogger<S3ObjectStore>());
    }
}

internal static class SourceFactory
{
    public static ISource Create(ExportSchedule schedule, TimeProvider time, ILoggerFactory loggers)
    {
        var spec = schedule.Spec;
        if (spec.Source.Files is { } files)
        {
            return new FilesSource(files, spec.Entities, time);
        }

        return new PostgresSource(spec.Source.Postgres!, spec.Entities, PostgresSource.ResolveConnectionString(), loggers.CreateLogger<PostgresSource>());
    }
}
