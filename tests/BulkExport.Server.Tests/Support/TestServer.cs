using System.Collections.Concurrent;
using BulkExport.Api;
using BulkExport.Publishing.Stores;
using BulkExport.Publishing.Stores.S3;
using BulkExport.Server.Configuration;
using BulkExport.Server.Registers;
using BulkExport.Tests.Shared;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BulkExport.Server.Tests.Support;

/// <summary>The real service on Kestrel, 127.0.0.1 and a free port, with a client that does not follow redirects.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestServer(WebApplication app, LogSink logs)
    {
        _app = app;
        Logs = logs;
        BaseAddress = new Uri(app.Urls.First());
        Client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = BaseAddress };
    }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    public LogSink Logs { get; }

    public static async Task<TestServer> StartAsync(IReadOnlyList<ExportSchedule> schedules, ServerSettings? settings = null, Func<StorageSpec, IObjectReader>? openReader = null, IReadOnlyList<string>? namespaces = null, Uri? kubeApi = null, bool scheduleSecrets = false)
    {
        var logs = new LogSink();
        var app = ServerHost.Build(new ServerOptions
        {
            Schedules = [.. schedules.Select((s, i) => (s, $"schedule{i}.yaml"))],
            Settings = settings ?? new ServerSettings(),
            Urls = ["http://127.0.0.1:0"],
            OpenReader = openReader,
            Logging = b => b.AddProvider(logs),
            Namespaces = namespaces ?? [],
            ScheduleSecrets = scheduleSecrets,
            Kubernetes = kubeApi is null ? null : new k8s.KubernetesClientConfiguration { Host = kubeApi.ToString() },
        });
        await app.StartAsync();
        return new TestServer(app, logs);
    }

    /// <summary>What the refresh timer does, now: conditional GET of every catalog, re-read of the credentials file.</summary>
    public Task RefreshAsync() => _app.Services.GetRequiredService<CatalogRefresher>().RefreshAllAsync(CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public static ExportSchedule LocalSchedule(string register, string root) => ScheduleDocument.LoadYaml(LocalScheduleYaml(register, root), "test schedule");

    public static string LocalScheduleYaml(string register, string root) => ScheduleYaml(register, $"local: {{path: '{root}'}}");

    public static ExportSchedule S3Schedule(string register, S3rverFixture s3, string prefix) =>
        Schedule(register, $"s3: {{bucket: {S3rverFixture.Bucket}, prefix: '{prefix}', endpoint: '{s3.Endpoint}', forcePathStyle: true, compatibility: Legacy}}");

    public static S3ObjectStore S3Store(S3rverFixture s3, string prefix) => new(S3Spec(s3, prefix), S3rverFixture.Credentials);

    public static S3StorageSpec S3Spec(S3rverFixture s3, string prefix) => new()
    {
        Bucket = S3rverFixture.Bucket,
        Prefix = prefix,
        Endpoint = s3.Endpoint,
        ForcePathStyle = true,
        Compatibility = S3Compatibility.Legacy,
    };

    /// <summary>Opens S3 storage with s3rver's fixed credentials, as the environment would supply them.</summary>
    public static Func<StorageSpec, IObjectReader> S3rverReader() =>
        storage => storage.Local is { } local ? LocalObjectStore.ForReading(local.Path) : new S3ObjectStore(storage.S3!, S3rverFixture.Credentials);

    private static ExportSchedule Schedule(string register, string storage) => ScheduleDocument.LoadYaml(ScheduleYaml(register, storage), "test schedule");

    private static string ScheduleYaml(string register, string storage) => $$$"""
        apiVersion: bulkexport.io/v1alpha1
        kind: ExportSchedule
        metadata: {name: {{{register.ToLowerInvariant()}}}}
        spec:
          register: {{{register}}}
          total: {schedule: "0 3 * * 6"}
          delta: {schedule: "0 3 * * *"}
          source: {files: {path: /nonexistent}}
          entities:
            - {name: Adresse, key: [id]}
          storage:
            {{{storage}}}
        """;
}

/// <summary>Every log line the service writes, to check what the access log names.</summary>
internal sealed class LogSink : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(LogSink sink) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            sink.Lines.Enqueue(formatter(state, exception));
    }
}

/// <summary>A temp directory removed at the end.</summary>
internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bulkexport-server-" + Guid.NewGuid().ToString("N")[..12]);

    public TempDirectory() => Directory.CreateDirectory(Path);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
