using System.Text.Json.Nodes;
using BulkExport.FakeKubeApi;
using BulkExport.Operator.Hosting;
using BulkExport.Operator.Kubernetes;
using BulkExport.Operator.Reconciling;
using Microsoft.Extensions.Logging.Abstractions;

namespace BulkExport.Operator.Tests.Support;

/// <summary>A fake API server and operator replicas running against it with real watches.</summary>
internal sealed class OperatorFixture : IAsyncDisposable
{
    public static readonly InformerOptions FastInformers = new()
    {
        InitialBackoff = TimeSpan.FromMilliseconds(50),
        MaxBackoff = TimeSpan.FromMilliseconds(500),
        WatchTimeout = TimeSpan.FromSeconds(30),
    };

    private readonly List<Replica> _replicas = [];

    private OperatorFixture(FakeKubeApiServer server) => Server = server;

    public FakeKubeApiServer Server { get; }

    public static async Task<OperatorFixture> StartAsync() =>
        new(await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromMilliseconds(200) }));

    public KubeApiClient NewClient() => KubeApiClient.ForServer(Server.Url);

    public Replica StartOperator(OperatorOptions? options = null)
    {
        var client = NewClient();
        var runtime = new OperatorRuntime(client, options ?? new OperatorOptions { Workers = 4, ExporterImage = "exporter:test" },
            TimeProvider.System, NullLoggerFactory.Instance, new OperatorMetrics(), FastInformers);
        var replica = new Replica(client, runtime);
        _replicas.Add(replica);
        return replica;
    }

    public JsonObject CreateSchedule(JsonObject schedule) => Server.Create("exportschedules", schedule);

    public JsonObject? Schedule(string name, string ns = TestSchedules.Namespace) => Server.Get("exportschedules", ns, name);

    public JsonObject? CronJob(string name, string ns = TestSchedules.Namespace) => Server.Get("cronjobs", ns, name);

    public static string? Condition(JsonObject? schedule, string type, string field = "status") =>
        (string?)(schedule?["status"]?["conditions"] as JsonArray)?.FirstOrDefault(c => (string?)c?["type"] == type)?[field];

    /// <summary>Polls until <paramref name="condition"/> holds; fails with <paramref name="what"/> after the timeout.</summary>
    public static async Task Eventually(Func<bool> condition, string what, TimeSpan? timeout = null, Func<string>? detail = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for: {what}{(detail is null ? "" : "; " + detail())}");
            }

            await Task.Delay(25);
        }
    }

    /// <summary>Waits until the operator has been idle (no queued work, no new writes) for a while.</summary>
    public async Task Settle(Replica replica, TimeSpan? quiet = null)
    {
        var quietFor = quiet ?? TimeSpan.FromMilliseconds(500);
        var lastWrites = -1L;
        var since = DateTime.UtcNow;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var writes = Server.WriteRequests;
            if (writes != lastWrites || replica.Runtime.Controller.Queue.Depth > 0)
            {
                lastWrites = writes;
                since = DateTime.UtcNow;
            }
            else if (DateTime.UtcNow - since > quietFor)
            {
                return;
            }

            await Task.Delay(25);
        }

        Assert.Fail("operator did not settle");
    }

    /// <summary>Plays the CronJob and Job controllers: a finished Job of the CronJob with a pod whose termination message is <paramref name="message"/>.</summary>
    /// <param name="withPod">False: the Job only, as the operator sees it when the Job's watch event comes before its pod's.</param>
    public JsonObject FinishJob(string schedule, string type, string jobName, bool succeeded, string? message, DateTimeOffset? finishedAt = null, string ns = TestSchedules.Namespace, bool withPod = true)
    {
        var cronJob = CronJob($"{schedule}-{type}", ns) ?? throw new InvalidOperationException($"no CronJob {schedule}-{type}");
        var labels = (JsonObject)cronJob["spec"]!["jobTemplate"]!["metadata"]!["labels"]!.DeepClone();
        labels[Labels.JobName] = jobName;
        var when = finishedAt ?? DateTimeOffset.UtcNow;
        var at = when.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        if (withPod)
        {
            TerminatedPod(schedule, type, jobName, succeeded, message, when, ns);
        }

        var condition = new JsonObject { ["type"] = succeeded ? "Complete" : "Failed", ["status"] = "True", ["lastTransitionTime"] = at, ["reason"] = succeeded ? "Completed" : "BackoffLimitExceeded", ["message"] = succeeded ? "" : "Job has reached the specified backoff limit" };
        var status = new JsonObject { ["conditions"] = new JsonArray { condition }, ["startTime"] = at };
        if (succeeded)
        {
            status["completionTime"] = at;
            status["succeeded"] = 1;
        }
        else
        {
            status["failed"] = 1;
        }

        return Server.Create("jobs", new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["name"] = jobName,
                ["namespace"] = ns,
                ["labels"] = labels,
                ["ownerReferences"] = new JsonArray
                {
                    new JsonObject { ["apiVersion"] = "batch/v1", ["kind"] = "CronJob", ["name"] = cronJob["metadata"]!["name"]!.DeepClone(), ["uid"] = cronJob["metadata"]!["uid"]!.DeepClone(), ["controller"] = true },
                },
            },
            ["spec"] = cronJob["spec"]!["jobTemplate"]!["spec"]!.DeepClone(),
            ["status"] = status,
        });
    }

    private static JsonObject PodLabels(JsonObject templateLabels, string jobName)
    {
        var labels = (JsonObject)templateLabels.DeepClone();
        labels["job-name"] = jobName;
        return labels;
    }

    /// <summary>Plays the kubelet: an exporter pod of <paramref name="jobName"/> that terminated with <paramref name="message"/>, without its Job.</summary>
    public JsonObject TerminatedPod(string schedule, string type, string jobName, bool succeeded, string? message, DateTimeOffset finishedAt, string ns = TestSchedules.Namespace)
    {
        var cronJob = CronJob($"{schedule}-{type}", ns) ?? throw new InvalidOperationException($"no CronJob {schedule}-{type}");
        var labels = (JsonObject)cronJob["spec"]!["jobTemplate"]!["metadata"]!["labels"]!.DeepClone();
        labels[Labels.JobName] = jobName;
        var at = finishedAt.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        return Server.Create("pods", new JsonObject
        {
            // The Job controller gives pods the template's labels plus the job-name labels.
            ["metadata"] = new JsonObject { ["name"] = $"{jobName}-abcde", ["namespace"] = ns, ["labels"] = PodLabels(labels, jobName) },
            ["spec"] = cronJob["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!.DeepClone(),
            ["status"] = new JsonObject
            {
                ["phase"] = succeeded ? "Succeeded" : "Failed",
                ["containerStatuses"] = new JsonArray
                {
                    new JsonObject
                    {
                        ["name"] = DesiredState.ContainerName,
                        ["image"] = "exporter:test",
                        ["imageID"] = "",
                        ["ready"] = false,
                        ["restartCount"] = 0,
                        ["state"] = new JsonObject { ["terminated"] = new JsonObject { ["exitCode"] = succeeded ? 0 : 1, ["finishedAt"] = at, ["message"] = message, ["reason"] = succeeded ? "Completed" : "Error" } },
                    },
                },
            },
        });
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }

        await Server.DisposeAsync();
    }

    internal sealed class Replica(KubeApiClient client, OperatorRuntime runtime) : IAsyncDisposable
    {
        private bool _stopped;

        public KubeApiClient Client { get; } = client;
        public OperatorRuntime Runtime { get; } = runtime;

        public async Task<Replica> StartedAsync()
        {
            await Runtime.StartAsync(CancellationToken.None);
            return this;
        }

        public async Task StopAsync()
        {
            if (!_stopped)
            {
                _stopped = true;
                await Runtime.StopAsync(CancellationToken.None);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            Runtime.Dispose();
            Client.Dispose();
        }
    }
}
