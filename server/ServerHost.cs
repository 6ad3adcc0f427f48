using System.Globalization;
using System.Threading.RateLimiting;
using BulkExport.Api;
using BulkExport.Publishing.Stores;
using BulkExport.Publishing.Stores.S3;
using BulkExport.Server.Access;
using BulkExport.Server.Configuration;
using BulkExport.Server.Discovery;
using BulkExport.Server.Endpoints;
using BulkExport.Server.Registers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace BulkExport.Server;

/// <summary>What the command line (or a test) gives the service.</summary>
internal sealed record ServerOptions
{
    public required IReadOnlyList<(ExportSchedule Schedule, string Source)> Schedules { get; init; }

    public ServerSettings Settings { get; init; } = new();

    public IReadOnlyList<string> Urls { get; init; } = ["http://localhost:8080"];

    /// <summary>Opens a schedule's storage read-only; null: the local directory or S3 with credentials from the environment.</summary>
    public Func<StorageSpec, IObjectReader>? OpenReader { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Cluster mode: namespaces whose ExportSchedules are served as well (<c>*</c>: all); empty: off.</summary>
    public IReadOnlyList<string> Namespaces { get; init; } = [];

    /// <summary>The API server for cluster mode; null: in a pod its service account, else the kubeconfig (KUBECONFIG or ~/.kube/config).</summary>
    public k8s.KubernetesClientConfiguration? Kubernetes { get; init; }

    /// <summary>Cluster mode: serve each schedule with the S3 credentials of the Secret it names, read-only ones first (<c>--schedule-secrets</c>).</summary>
    public bool ScheduleSecrets { get; init; }

    /// <summary>Extra logging setup after the defaults (tests capture the access log).</summary>
    public Action<ILoggingBuilder>? Logging { get; init; }
}

internal static class ServerHost
{
    /// <summary>The whole service; throws <see cref="ConfigurationException"/> before listening when the configuration cannot be used.</summary>
    public static WebApplication Build(ServerOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = Directory.GetCurrentDirectory() });
        builder.WebHost.UseUrls([.. options.Urls]);
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        ConfigureLogging(builder.Logging);
        options.Logging?.Invoke(builder.Logging);

        var settings = options.Settings;
        var credentials = new CredentialStore(settings.CredentialsFile);
        credentials.Reload();
        var openReader = options.OpenReader ?? (storage => OpenReader(storage, options.Time));
        var discovering = options.Namespaces.Count > 0;
        var registers = ServedRegisters.FromSchedules(options.Schedules, settings, openReader, discovering,
            (storage, credentials) => new S3ObjectStore(storage.S3 ?? throw new ConfigurationException("schedule", [new ValidationError("spec.storage.s3", "credentials apply to S3 storage only")]), credentials, options.Time));

        var services = builder.Services;
        services.AddSingleton(settings);
        services.AddSingleton(registers);
        services.AddSingleton(credentials);
        services.AddSingleton(options.Time);
        services.AddSingleton<FileDelivery>();
        if (discovering)
        {
            var connection = options.Kubernetes ?? (k8s.KubernetesClientConfiguration.IsInCluster()
                ? k8s.KubernetesClientConfiguration.InClusterConfig()
                : k8s.KubernetesClientConfiguration.BuildDefaultConfig());
            services.AddSingleton(sp => new Cluster.ClusterSchedules(options.Namespaces, connection, sp.GetRequiredService<ILoggerFactory>().CreateLogger<Cluster.ClusterSchedules>(), options.Time, options.ScheduleSecrets));
        }

        services.AddSingleton<CatalogRefresher>();
        services.AddHostedService(sp => sp.GetRequiredService<CatalogRefresher>());
        services.AddOpenApi(o => o.AddOperationTransformer((operation, context, _) =>
        {
            // One endpoint answers GET and HEAD; operation ids must still be unique in the document.
            if (operation.OperationId is not null && HttpMethods.IsHead(context.Description.HttpMethod ?? ""))
            {
                operation.OperationId += "Head";
            }

            return Task.CompletedTask;
        }));
        if (settings.RateLimit is { } limit)
        {
            services.AddRateLimiter(o => ConfigureRateLimit(o, limit));
        }

        var app = builder.Build();
        app.UseMiddleware<AccessLogMiddleware>();
        if (settings.AcceptedHosts is { } accepted)
        {
            // 400 for any other Host before anything can echo it into a link; probes (kubelet sends the
            // pod's address as Host) answer with no link and stay reachable.
            // The host's own filter (options from "AllowedHosts", "*") runs first for every path, so
            // ours is a second instance of the same middleware on a branch with its own options.
            var filter = new FixedOptionsMonitor<HostFilteringOptions>(new HostFilteringOptions { AllowedHosts = [.. accepted], AllowEmptyHosts = false });
            app.UseWhen(context => !IsProbe(context.Request.Path), branch => branch.UseMiddleware<HostFilteringMiddleware>(filter));
            if (settings.AllowedHosts.Count == 0)
            {
                HostLog.LoopbackOnly(app.Logger, string.Join(", ", accepted));
            }
        }

        app.UseMiddleware<AccessMiddleware>();
        if (settings.RateLimit is not null)
        {
            app.UseRateLimiter();
        }

        app.MapGet("/healthz", () => Results.Text("ok")).ExcludeFromDescription();
        app.MapGet("/readyz", (ServedRegisters served, CatalogRefresher refresher) => refresher.Discovered && served.Fixed.All(r => r.Loaded)
            ? Results.Text("ready")
            : Results.Text("catalogs not read yet", statusCode: StatusCodes.Status503ServiceUnavailable)).ExcludeFromDescription();
        app.MapFileDownloads();
        app.MapDiscovery();
        app.MapOpenApi();
        return app;
    }

    private static bool IsProbe(PathString path) => path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz");

    private static IObjectReader OpenReader(StorageSpec storage, TimeProvider time) =>
        storage.Local is { } local
            ? LocalObjectStore.ForReading(local.Path)
            : new S3ObjectStore(storage.S3!, S3ObjectStore.CredentialsFromEnvironment(), time);

    /// <summary>A token bucket per API key or user, and per address for anonymous callers; probes are never limited.</summary>
    private static void ConfigureRateLimit(RateLimiterOptions options, RateLimitSettings limit)
    {
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
        {
            if (IsProbe(context.Request.Path))
            {
                return RateLimitPartition.GetNoLimiter("probes");
            }

            var caller = AccessPolicy.CallerOf(context);
            var key = caller.IsAnonymous ? "ip:" + context.Connection.RemoteIpAddress : caller.Id;
            return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = limit.Burst,
                TokensPerPeriod = limit.RequestsPerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            });
        });
        options.OnRejected = async (rejected, cancellationToken) =>
        {
            var seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)) : 1;
            rejected.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            await Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too Many Requests", detail: $"rate limit reached; retry after {seconds} s")
                .ExecuteAsync(rejected.HttpContext).ConfigureAwait(false);
        };
    }

    private static void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(LogLevel.Information);
        logging.AddFilter("Microsoft", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        logging.AddFilter("System", LogLevel.Warning);
        logging.AddJsonConsole(o =>
        {
            o.IncludeScopes = false;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            o.UseUtcTimestamp = true;
        });
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    }
}

/// <summary>Options that never change, for a middleware instance configured apart from the DI-wide ones.</summary>
internal sealed class FixedOptionsMonitor<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}

internal static partial class HostLog
{
    [LoggerMessage(EventId = 111, Level = LogLevel.Warning, Message = "neither publicBaseUrl nor allowedHosts is set: only requests with Host {Hosts} are answered (others get 400). Set publicBaseUrl (recommended) or allowedHosts to serve other names")]
    public static partial void LoopbackOnly(ILogger logger, string hosts);
}
