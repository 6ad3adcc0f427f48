using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Publishing.Signing;
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

/// <summary>
/// The signing key of <c>spec.signing</c>: the PEM file it names, or, with <c>secretRef</c>, what the
/// pod gets from that Secret (<see cref="ExporterEnvironment.SigningKey"/> or a mounted file named by
/// <see cref="ExporterEnvironment.SigningKeyFile"/>). Loaded once, before the run touches anything;
/// every failure names the setting.
/// </summary>
internal static class SignerFactory
{
    public static PublicationSigner? Create(SigningSpec? signing, Func<string, string?>? getEnvironment = null)
    {
        if (signing is null)
        {
            return null;
        }

        getEnvironment ??= Environment.GetEnvironmentVariable;
        if (signing.KeyFile is { } keyFile)
        {
            var next = signing.NextPublicKeyFile is { } nextFile ? (ReadFile(nextFile, "spec.signing.nextPublicKeyFile"), $"spec.signing.nextPublicKeyFile ({nextFile})") : default;
            return PublicationSigner.FromPem(ReadFile(keyFile, "spec.signing.keyFile"), $"spec.signing.keyFile ({keyFile})", next.Item1, next.Item2);
        }

        var secret = signing.SecretRef!;
        var key = FromEnvironment(getEnvironment, ExporterEnvironment.SigningKey, ExporterEnvironment.SigningKeyFile)
            ?? throw new SigningKeyException(
                $"spec.signing.secretRef: the signing key (Secret {secret.Name}, entry {secret.Key}) is expected in {ExporterEnvironment.SigningKey} or in a file named by {ExporterEnvironment.SigningKeyFile}; neither is set");
        (string Text, string Where)? nextKey = null;
        if (secret.NextPublicKeyKey is { } nextEntry)
        {
            nextKey = FromEnvironment(getEnvironment, ExporterEnvironment.SigningNextPublicKey, ExporterEnvironment.SigningNextPublicKeyFile)
                ?? throw new SigningKeyException(
                    $"spec.signing.secretRef.nextPublicKeyKey: the next public key (Secret {secret.Name}, entry {nextEntry}) is expected in {ExporterEnvironment.SigningNextPublicKey} or in a file named by {ExporterEnvironment.SigningNextPublicKeyFile}; neither is set");
        }

        return PublicationSigner.FromPem(key.Text, $"spec.signing.secretRef ({key.Where})", nextKey?.Text, nextKey is { } n ? $"spec.signing.secretRef.nextPublicKeyKey ({n.Where})" : null);
    }

    private static (string Text, string Where)? FromEnvironment(Func<string, string?> getEnvironment, string variable, string fileVariable)
    {
        if (getEnvironment(variable) is { Length: > 0 } text)
        {
            return (text, variable);
        }

        return getEnvironment(fileVariable) is { Length: > 0 } file ? (ReadFile(file, fileVariable), $"{fileVariable}={file}") : null;
    }

    private static string ReadFile(string path, string setting)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SigningKeyException($"{setting}: cannot read '{path}': {e.Message}", e);
        }
    }
}
