using System.CommandLine;
using BulkExport.Api;
using BulkExport.Operator.Hosting;
using BulkExport.Operator.Kubernetes;
using k8s;
using BulkExport.Operator.Reconciling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace BulkExport.Operator;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("BulkExport operator: turns ExportSchedules into exporter CronJobs.");
        root.Subcommands.Add(RunCommand());
        root.Subcommands.Add(RenderCommand());
        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    private static Command RunCommand()
    {
        var namespaces = new Option<string?>("--namespaces") { Description = "Comma-separated namespaces to watch (default: all; env WATCH_NAMESPACES)", DefaultValueFactory = _ => Env("WATCH_NAMESPACES") };
        var leaderElection = new Option<bool>("--leader-election") { Description = "Reconcile only while holding the Lease (env LEADER_ELECTION=true)", DefaultValueFactory = _ => string.Equals(Env("LEADER_ELECTION"), "true", StringComparison.OrdinalIgnoreCase) };
        var leaseName = new Option<string>("--lease-name") { Description = "Name of the coordination.k8s.io Lease", DefaultValueFactory = _ => "bulkexport-operator" };
        var leaseNamespace = new Option<string?>("--lease-namespace") { Description = "Namespace of the Lease (env POD_NAMESPACE)", DefaultValueFactory = _ => Env("POD_NAMESPACE") };
        var image = new Option<string>("--exporter-image") { Description = "Exporter image when spec.exporter.image is absent (env EXPORTER_IMAGE)", DefaultValueFactory = _ => Env("EXPORTER_IMAGE") ?? OperatorOptions.DefaultExporterImage };
        var healthPort = new Option<int>("--health-port") { Description = "Port of /healthz and /readyz (env HEALTH_PORT)", DefaultValueFactory = _ => int.TryParse(Env("HEALTH_PORT"), out var p) ? p : 8080 };
        var command = new Command("run", "Run the operator against the cluster of the current kubeconfig (or in-cluster)")
        {
            namespaces, leaderElection, leaseName, leaseNamespace, image, healthPort,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new OperatorOptions
            {
                Namespaces = (parse.GetValue(namespaces) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                LeaderElection = parse.GetValue(leaderElection),
                LeaseName = parse.GetValue(leaseName)!,
                LeaseNamespace = parse.GetValue(leaseNamespace),
                ExporterImage = parse.GetValue(image)!,
                HealthPort = parse.GetValue(healthPort),
                Identity = Env("POD_NAME") ?? $"{Environment.MachineName}-{Guid.NewGuid().ToString("N")[..8]}",
            };
            try
            {
                return await RunAsync(options, ct).ConfigureAwait(false);
            }
            catch (OptionsValidationError e)
            {
                await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }
            catch (InvalidOperationException e) when (e.Message.Contains("kubeconfig", StringComparison.Ordinal))
            {
                await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(OperatorOptions options, CancellationToken ct)
    {
        // Settings first: a wrong flag should be reported before a missing kubeconfig.
        if (options.Validate() is { Count: > 0 } errors)
        {
            throw new OptionsValidationError(errors);
        }

        await using var app = BuildApp(options, KubeConfig.Load());
        await app.StartAsync(ct).ConfigureAwait(false);
        await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
        return 0;
    }

    /// <summary>The operator host: reconciler, leader election and the health endpoints on --health-port.</summary>
    internal static WebApplication BuildApp(OperatorOptions options, KubernetesClientConfiguration kubeConfig)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddJsonConsole(o =>
        {
            o.IncludeScopes = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            o.UseUtcTimestamp = true;
        });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.WebHost.UseKestrel(k => k.ListenAnyIP(options.HealthPort));
        builder.Services.AddBulkExportOperator(options, kubeConfig);
        // Metrics are always scrapeable at /metrics; metrics and traces also leave by OTLP when an
        // endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT), the standard OTel way.
        var otlp = Env("OTEL_EXPORTER_OTLP_ENDPOINT") is not null;
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("bulkexport-operator", serviceInstanceId: options.Identity))
            .WithMetrics(m =>
            {
                m.AddMeter(OperatorMetrics.MeterName).AddPrometheusExporter();
                if (otlp)
                {
                    m.AddOtlpExporter();
                }
            });
        if (otlp)
        {
            otel.WithTracing(t => t.AddSource(OperatorMetrics.ActivitySourceName).AddOtlpExporter());
        }

        var app = builder.Build();
        app.MapPrometheusScrapingEndpoint("/metrics");
        var runtime = app.Services.GetRequiredService<OperatorRuntime>();
        // Liveness: the process serves requests. Readiness: caches synced (or standing by for the lease).
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", () => runtime.IsReady ? Results.Text("ok") : Results.Text("caches not synced", statusCode: 503));
        return app;
    }

    private static Command RenderCommand()
    {
        var file = new Option<FileInfo>("--file", "-f") { Description = "ExportSchedule YAML", Required = true };
        var image = new Option<string>("--exporter-image") { Description = "Exporter image when spec.exporter.image is absent", DefaultValueFactory = _ => Env("EXPORTER_IMAGE") ?? OperatorOptions.DefaultExporterImage };
        var command = new Command("render", "Print the ConfigMap and CronJobs the operator would create for a schedule (no cluster needed)") { file, image };
        command.SetAction(parse =>
        {
            try
            {
                Console.Out.Write(Render(parse.GetValue(file)!.FullName, parse.GetValue(image)!));
                return 0;
            }
            catch (ScheduleValidationException e)
            {
                Console.Error.WriteLine(e.Message);
                return 2;
            }
        });
        return command;
    }

    internal static string Render(string path, string exporterImage)
    {
        var schedule = ScheduleDocument.LoadFile(path);
        if (ClusterRules.Validate(schedule) is { Count: > 0 } errors)
        {
            throw new ScheduleValidationException(path, errors);
        }

        var desired = DesiredState.Build(schedule, ownerUid: null, exporterImage);
        return YamlWriter.WriteDocuments([desired.ConfigMap, desired.TotalCronJob, desired.DeltaCronJob]);
    }
}
