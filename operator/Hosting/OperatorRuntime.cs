using BulkExport.Operator.Kubernetes;
using BulkExport.Operator.Reconciling;
using BulkExport.Operator.Runtime;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BulkExport.Operator.Hosting;

/// <summary>One operator replica: with leader election it reconciles only while it holds the lease.</summary>
internal sealed class OperatorRuntime : BackgroundService
{
    private readonly OperatorOptions _options;

    public OperatorRuntime(KubeApiClient client, OperatorOptions options, TimeProvider time, ILoggerFactory loggers, OperatorMetrics metrics, InformerOptions? informerOptions = null)
    {
        _options = options;
        Controller = new ControllerRuntime(client, options, loggers.CreateLogger("BulkExport.Operator.Controller"), time, metrics, informerOptions);
        Reconciler = new ScheduleReconciler(Controller, options, loggers.CreateLogger("BulkExport.Operator.Reconciler"), time, metrics);
        Controller.Use(Reconciler);
        Elector = options.LeaderElection ? new LeaderElector(client, options, time, loggers.CreateLogger("BulkExport.Operator.LeaderElection")) : null;
    }

    /// <summary>The runtime: caches, work queue, workers and retries.</summary>
    public ControllerRuntime Controller { get; }

    /// <summary>The ExportSchedule reconciler the runtime drives.</summary>
    public ScheduleReconciler Reconciler { get; }
    public LeaderElector? Elector { get; }

    public bool IsLeading => Elector?.IsLeader ?? true;

    /// <summary>Ready to serve: a standby is ready (it is waiting by design); a leader once its caches are synced.</summary>
    public bool IsReady => Elector is { IsLeader: false } || Controller.Synced;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _options.LeaderElection ? Elector!.RunAsync(Controller.RunAsync, stoppingToken) : Controller.RunAsync(stoppingToken);
}
