using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using BulkExport.Api;
using BulkExport.FakeKubeApi;
using BulkExport.Operator.Hosting;
using BulkExport.Operator.Kubernetes;
using BulkExport.Operator.Reconciling;
using Microsoft.Extensions.Logging.Abstractions;

namespace BulkExport.OperatorBench;

/// <summary>
/// Scale benchmark: N schedules created at once against the in-process fake API server. Measures the
/// time until all 2N CronJobs exist, compared in the same run with writing the same 2N CronJobs
/// directly; the requests of a second, no-change pass (must be 0 writes); and operator memory.
/// </summary>
internal static class Program
{
    private const string Ns = "bench";

    public static async Task<int> Main(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1000;
        var idleSeconds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 60;
        // Warm-up: a small round of every phase first, so the measured round compares the operator
        // and the direct writes with their code compiled (the operator's own first-start JIT is
        // reported from the warm-up round; the process runs without tiered compilation, as the operator does).
        var warmupCount = Math.Min(100, count);
        var cold = await RunAsync(warmupCount, 0, report: false).ConfigureAwait(false);
        Console.WriteLine($"# warm-up round, {warmupCount} schedules: direct CronJobs {cold.Direct:F2} s, operator until all CronJobs {cold.Operator:F2} s ({cold.OperatorUsage})");
        Console.WriteLine();
        return (await RunAsync(count, idleSeconds, report: true).ConfigureAwait(false)).SecondPassWrites == 0 ? 0 : 1;
    }

    private sealed record RoundResult(double Direct, double Operator, Usage OperatorUsage, long SecondPassWrites);

    private static async Task<RoundResult> RunAsync(int count, int idleSeconds, bool report)
    {
        const int workers = 8;
        var schedules = Enumerable.Range(0, count).Select(Schedule).ToList();

        // 1. Baseline: the same CronJobs written directly through the same client, with as many
        // concurrent writers as the operator has workers, into a server that holds the same
        // schedules (so the CronJobs' owners exist and the server keeps them, as it does the operator's).
        double directSeconds;
        Usage directUsage;
        await using (var server = await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromSeconds(5) }))
        {
            server.RecordWrites = false;
            using var client = KubeApiClient.ForServer(server.Url);
            var stored = schedules.Select(s => server.Create("exportschedules", s)).ToList();
            var cronJobs = stored.SelectMany(s => DesiredState.Build(ScheduleDocument.FromJson(s), (string?)s["metadata"]!["uid"], "exporter:bench").CronJobs).ToList();
            Mark("direct CronJobs");
            var usage = Usage.Start();
            var sw = Stopwatch.StartNew();
            await Parallel.ForEachAsync(cronJobs, new ParallelOptions { MaxDegreeOfParallelism = workers }, async (c, ct) => await client.CreateAsync(ResourceType.CronJobs, Ns, c, ct));
            directSeconds = sw.Elapsed.TotalSeconds;
            directUsage = usage.Stop();
            if (server.Count("cronjobs") != 2 * count)
            {
                throw new InvalidOperationException($"baseline: {server.Count("cronjobs")} CronJobs stored, expected {2 * count}");
            }
        }

        // 1a. The same, with as many concurrent writers as the operator has requests in flight at
        // most (each worker writes a schedule's ConfigMap and two CronJobs at once).
        double directWideSeconds;
        await using (var server = await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromSeconds(5) }))
        {
            server.RecordWrites = false;
            using var client = KubeApiClient.ForServer(server.Url);
            var stored = schedules.Select(s => server.Create("exportschedules", s)).ToList();
            var cronJobs = stored.SelectMany(s => DesiredState.Build(ScheduleDocument.FromJson(s), (string?)s["metadata"]!["uid"], "exporter:bench").CronJobs).ToList();
            var sw = Stopwatch.StartNew();
            await Parallel.ForEachAsync(cronJobs, new ParallelOptions { MaxDegreeOfParallelism = 3 * workers }, async (c, ct) => await client.CreateAsync(ResourceType.CronJobs, Ns, c, ct));
            directWideSeconds = sw.Elapsed.TotalSeconds;
        }

        // 1b. The operator's whole write set, written directly: per schedule a ConfigMap, two CronJobs
        // (at once, as the operator writes them) and then a status update. The operator cannot beat
        // this; the ratio against it is its own overhead (watches, caches, reconcile logic).
        double directAllSeconds;
        Usage directAllUsage;
        await using (var server = await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromSeconds(5) }))
        {
            server.RecordWrites = false;
            using var client = KubeApiClient.ForServer(server.Url);
            var stored = schedules.Select(s => server.Create("exportschedules", s)).ToList();
            var sets = stored.Select(s => (Schedule: s, Desired: DesiredState.Build(ScheduleDocument.FromJson(s), (string?)s["metadata"]!["uid"], "exporter:bench"))).ToList();
            Mark("direct all");
            var usage = Usage.Start();
            var sw = Stopwatch.StartNew();
            await Parallel.ForEachAsync(sets, new ParallelOptions { MaxDegreeOfParallelism = workers }, async (set, ct) =>
            {
                await Task.WhenAll(
                    client.CreateAsync(ResourceType.ConfigMaps, Ns, set.Desired.ConfigMap, ct),
                    client.CreateAsync(ResourceType.CronJobs, Ns, set.Desired.TotalCronJob, ct),
                    client.CreateAsync(ResourceType.CronJobs, Ns, set.Desired.DeltaCronJob, ct));
                // As the operator writes status: a merge patch of the status subresource with the
                // resourceVersion as precondition.
                var patch = new JsonObject
                {
                    ["metadata"] = new JsonObject { ["resourceVersion"] = (string?)set.Schedule["metadata"]!["resourceVersion"] },
                    ["status"] = new JsonObject { ["observedGeneration"] = 1, ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = "True", ["reason"] = "Reconciled", ["message"] = "bench", ["lastTransitionTime"] = "2026-01-01T00:00:00Z" }) },
                };
                await client.PatchAsync(ResourceType.ExportSchedules, Ns, (string?)set.Schedule["metadata"]!["name"] ?? "", patch, ct, status: true);
            });
            directAllSeconds = sw.Elapsed.TotalSeconds;
            directAllUsage = usage.Stop();
        }

        // 2. The operator, from N schedules that exist before it starts.
        await using var fake = await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromSeconds(5) });
        fake.RecordWrites = false;
        foreach (var s in schedules)
        {
            fake.Create("exportschedules", s);
        }

        var heapBefore = Heap();
        using var opClient = KubeApiClient.ForServer(fake.Url);
        var options = new OperatorOptions { Workers = workers, ExporterImage = "exporter:bench", ResyncPeriod = TimeSpan.FromHours(1) };
        using var runtime = new OperatorRuntime(opClient, options, TimeProvider.System, NullLoggerFactory.Instance, new OperatorMetrics());
        Mark("operator");
        var operatorUsage = Usage.Start();
        var total = Stopwatch.StartNew();
        await runtime.StartAsync(CancellationToken.None);
        await Until(() => fake.Count("cronjobs") >= 2 * count, TimeSpan.FromMinutes(5));
        var cronJobsSeconds = total.Elapsed.TotalSeconds;
        var cronJobsUsage = operatorUsage.Stop();
        await Until(() => runtime.Controller.Queue.Depth == 0 && AllReady(fake, count), TimeSpan.FromMinutes(5));
        var readySeconds = total.Elapsed.TotalSeconds;
        var readyUsage = operatorUsage.Stop();
        var firstPass = fake.Requests;
        var firstPassReconciles = runtime.Controller.Reconciles;
        var firstPassBuilds = runtime.Reconciler.DesiredBuilds;
        await Task.Delay(1000);

        // 3. A second pass over unchanged schedules.
        fake.ResetCounters();
        var before = runtime.Controller.Reconciles;
        Mark("second pass");
        var passUsage = Usage.Start();
        var pass = Stopwatch.StartNew();
        runtime.Controller.ResyncNow();
        await Until(() => runtime.Controller.Reconciles >= before + count && runtime.Controller.Queue.Depth == 0, TimeSpan.FromMinutes(5));
        var secondPassSeconds = pass.Elapsed.TotalSeconds;
        var secondPassUsage = passUsage.Stop();
        await Task.Delay(500);
        var second = fake.Requests;
        var secondWrites = fake.WriteRequests;
        var secondPassBuilds = runtime.Reconciler.DesiredBuilds - firstPassBuilds;

        if (!report)
        {
            await runtime.StopAsync(CancellationToken.None);
            return new RoundResult(directSeconds, cronJobsSeconds, cronJobsUsage, secondWrites);
        }

        var heapAfter = Heap();
        var workingSet = Process.GetCurrentProcess().WorkingSet64;

        // 4. Idle: nothing changes for a minute; the process (operator and fake server, with watch
        // bookmarks every 5 s) should use next to no CPU.
        fake.ResetCounters();
        Console.Error.WriteLine($"# idle for {idleSeconds} s from now (pid {Environment.ProcessId})");
        var idleUsage = Usage.Start();
        var threadsBefore = ThreadCpu();
        await Task.Delay(TimeSpan.FromSeconds(idleSeconds));
        var idleCpu = Process.GetCurrentProcess().TotalProcessorTime - idleUsage.Cpu;
        var idleThreads = ThreadCpu().Select(kv => (Name: kv.Key, Ms: kv.Value - threadsBefore.GetValueOrDefault(kv.Key))).Where(t => t.Ms > 0).OrderByDescending(t => t.Ms).ToList();
        idleUsage = idleUsage.Stop();
        var idleRequests = fake.Requests;

        // 5. What leader election adds to idle (the chart's default has it off; it is on with two
        // replicas): a lease holder renewing every retry period (2 s), beside the idle operator.
        var leaseSeconds = Math.Min(idleSeconds, 20);
        fake.ResetCounters();
        var leaseOptions = new OperatorOptions { LeaderElection = true, LeaseNamespace = Ns, Identity = "bench-leader" };
        var elector = new LeaderElector(opClient, leaseOptions, TimeProvider.System, NullLogger.Instance);
        using var electing = new CancellationTokenSource();
        var leaseCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var holding = elector.RunAsync(ct => Task.Delay(Timeout.Infinite, ct), electing.Token);
        await Task.Delay(TimeSpan.FromSeconds(leaseSeconds));
        leaseCpu = Process.GetCurrentProcess().TotalProcessorTime - leaseCpu;
        var leaseRequests = fake.Requests;
        await electing.CancelAsync();
        await holding;
        await runtime.StopAsync(CancellationToken.None);

        Console.WriteLine($"# Operator scale benchmark: {count} ExportSchedules, fake API server in process, {workers} workers");
        Console.WriteLine();
        Console.WriteLine("| measure | value |");
        Console.WriteLine("|---|---|");
        Console.WriteLine($"| direct: create {2 * count} CronJobs ({workers} writers) | {directSeconds:F2} s ({directUsage}) |");
        Console.WriteLine($"| direct: create {2 * count} CronJobs ({3 * workers} writers, the operator's most requests in flight) | {directWideSeconds:F2} s |");
        Console.WriteLine($"| direct: the operator's {4 * count} writes ({count} ConfigMaps, {2 * count} CronJobs, {count} status updates; {workers} writers) | {directAllSeconds:F2} s ({directAllUsage}) |");
        Console.WriteLine($"| operator: start until all {2 * count} CronJobs exist | {cronJobsSeconds:F2} s ({cronJobsSeconds / directSeconds:F2}x direct CronJobs with {workers} writers, {cronJobsSeconds / directWideSeconds:F2}x with {3 * workers}; {cronJobsUsage}) |");
        Console.WriteLine($"| operator: start until all {count} schedules Ready=True in status | {readySeconds:F2} s ({readySeconds / directAllSeconds:F2}x the same writes direct; {readyUsage}) |");
        Console.WriteLine($"| operator first pass requests | {Describe(firstPass)} |");
        Console.WriteLine($"| operator first pass reconciles | {firstPassReconciles} ({(double)firstPassReconciles / count:F2} per schedule), {firstPassBuilds} of them built the desired objects |");
        Console.WriteLine($"| second pass (no change): reconciles | {runtime.Controller.Reconciles - before} in {secondPassSeconds:F2} s ({secondPassUsage}); desired objects built {secondPassBuilds} times |");
        Console.WriteLine($"| second pass requests | {(second.Count == 0 ? "none" : Describe(second))} |");
        Console.WriteLine($"| second pass writes | {secondWrites} |");
        Console.WriteLine($"| idle {idleSeconds} s: process CPU | {idleCpu.TotalMilliseconds:F0} ms ({idleCpu.TotalSeconds / idleSeconds * 100:F2} % of one core) |");
        Console.WriteLine($"| idle {idleSeconds} s: {idleUsage} |");
        Console.WriteLine($"| idle {idleSeconds} s: CPU by thread (ms, 10 ms ticks) | {(idleThreads.Count == 0 ? "none" : string.Join(", ", idleThreads.Select(t => $"{t.Name}: {t.Ms:F0}")))} |");
        Console.WriteLine($"| idle {idleSeconds} s: requests | {(idleRequests.Count == 0 ? "none" : Describe(idleRequests))} |");
        Console.WriteLine($"| idle {leaseSeconds} s with a lease holder renewing every 2 s: process CPU | {leaseCpu.TotalMilliseconds:F0} ms ({leaseCpu.TotalSeconds / leaseSeconds * 100:F2} % of one core); requests {Describe(leaseRequests)} |");
        foreach (var (stage, microseconds, kib) in Stages(fake.List("exportschedules", Ns)))
        {
            Console.WriteLine($"| reconcile stage, one thread, per schedule: {stage} | {microseconds:F0} µs, {kib:F1} KiB allocated |");
        }

        Console.WriteLine($"| operator managed heap (caches etc., after GC) | {(heapAfter - heapBefore) / 1048576.0:F1} MiB |");
        Console.WriteLine($"| process working set (operator + fake server + {count} schedules) | {workingSet / 1048576.0:F0} MiB |");
        return new RoundResult(directSeconds, cronJobsSeconds, cronJobsUsage, secondWrites);
    }

    /// <summary>
    /// The CPU-bound stages of a first-pass reconcile, timed on one thread over the stored schedules
    /// (read back as the informer holds them: parsed lazily from the wire): what the operator computes
    /// per schedule besides its requests, so the split of its time needs no profiler.
    /// </summary>
    private static List<(string Stage, double Microseconds, double KiB)> Stages(IReadOnlyList<JsonObject> stored)
    {
        var wire = stored.Select(s => s.ToJsonString()).ToList();
        var result = new List<(string, double, double)>();
        List<JsonObject> cached = [];
        List<ExportSchedule> bound = [];
        List<DesiredObjects> desired = [];
        void Time(string stage, Action run)
        {
            // The fastest of three: the machine is shared, and the least disturbed run is the stage's cost.
            var best = double.MaxValue;
            var allocated = 0L;
            for (var i = 0; i < 3; i++)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                var sw = Stopwatch.StartNew();
                run();
                best = Math.Min(best, sw.Elapsed.TotalMicroseconds / stored.Count);
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            }

            result.Add((stage, best, allocated / 1024.0 / stored.Count));
        }

        Time("watch/list item parsed (wire to cached object)", () => cached = [.. wire.Select(w => JsonNode.Parse(w)!.AsObject())]);
        Time("validation + binding, on the cached object (main until 2026-12-02)", () =>
        {
            var fresh = wire.Select(w => JsonNode.Parse(w)!.AsObject()).ToList();
            fresh.ForEach(c => ScheduleValidator.Validate(c));
            bound = [.. fresh.Select(c => ScheduleDocument.BindValidated(c))];
        });
        Time("validation + binding, each on a copy parsed from the cached object's text (main until 2026-12-03)", () =>
        {
            foreach (var c in cached)
            {
                var text = c.ToJsonString();
                ScheduleValidator.Validate(JsonNode.Parse(text));
                _ = ScheduleDocument.BindValidated(JsonNode.Parse(text)!);
            }
        });
        Time("validation + binding, both on one copy parsed from the cached object's text (the reconciler)", () =>
        {
            foreach (var c in cached)
            {
                var copy = JsonNode.Parse(c.ToJsonString());
                ScheduleValidator.Validate(copy);
                _ = ScheduleDocument.BindValidated(copy!);
            }
        });
        Time("cluster rules", () => bound.ForEach(b => ClusterRules.Validate(b)));
        Time("desired ConfigMap + 2 CronJobs (typed, serialized, hashed)", () => desired = [.. bound.Select(b => DesiredState.Build(b, "uid", "exporter:bench"))]);
        Time("of it: exporter config YAML", () => bound.ForEach(b => DesiredState.ExporterConfig(b)));
        List<TypedDesiredObjects> typed = [];
        Time("of it: typed models (with the YAML)", () => typed = [.. bound.Select(b => DesiredState.BuildTyped(b, "uid", "exporter:bench"))]);
        Time("of it: typed models to JSON by the client's serializer", () => typed.ForEach(t => { _ = DesiredState.Wire(t.ConfigMap); _ = DesiredState.Wire(t.TotalCronJob); _ = DesiredState.Wire(t.DeltaCronJob); }));
        Time("desired objects to request bodies (3 serializations)", () => desired.ForEach(d => { _ = d.ConfigMap.ToJsonString(); _ = d.TotalCronJob.ToJsonString(); _ = d.DeltaCronJob.ToJsonString(); }));
        var now = DateTimeOffset.UtcNow;
        Time("status built and serialized", () =>
        {
            for (var i = 0; i < bound.Count; i++)
            {
                var status = StatusBuilder.Build(null, 1, bound[i], new Readiness(true, "Reconciled", "up to date"), [], now, now);
                _ = System.Text.Json.JsonSerializer.SerializeToNode(status, ScheduleDocument.JsonOptions);
            }
        });
        return result;
    }

    /// <summary>Process CPU, GC pauses and collections over one phase (operator and fake server share the process).</summary>
    private readonly record struct Usage(TimeSpan Cpu, TimeSpan Jit, TimeSpan GcPause, int Gen0, int Gen1, int Gen2, long Allocated)
    {
        public static Usage Start() => new(Process.GetCurrentProcess().TotalProcessorTime, System.Runtime.JitInfo.GetCompilationTime(), GC.GetTotalPauseDuration(), GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalAllocatedBytes());

        public Usage Stop() => new(Process.GetCurrentProcess().TotalProcessorTime - Cpu, System.Runtime.JitInfo.GetCompilationTime() - Jit, GC.GetTotalPauseDuration() - GcPause, GC.CollectionCount(0) - Gen0, GC.CollectionCount(1) - Gen1, GC.CollectionCount(2) - Gen2, GC.GetTotalAllocatedBytes() - Allocated);

        public override string ToString() => $"CPU {Cpu.TotalSeconds:F2} s, of it JIT {Jit.TotalSeconds:F2} s; GC pause {GcPause.TotalMilliseconds:F0} ms, GCs {Gen0}/{Gen1}/{Gen2}, allocated {Allocated / 1048576.0:F0} MiB";
    }

    /// <summary>CPU time by thread name (Linux /proc), to see what wakes up while idle.</summary>
    private static Dictionary<string, double> ThreadCpu()
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        var tasks = $"/proc/{Environment.ProcessId}/task";
        if (!Directory.Exists(tasks))
        {
            return result;
        }

        foreach (var dir in Directory.EnumerateDirectories(tasks))
        {
            try
            {
                var name = File.ReadAllText(Path.Combine(dir, "comm")).Trim();
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                // utime and stime are fields 14 and 15 of stat, 12 and 13 after "pid (comm) ".
                var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                result[name] = result.GetValueOrDefault(name) + (ticks * 10.0);
            }
            catch (IOException)
            {
                // The thread ended meanwhile.
            }
        }

        return result;
    }

    /// <summary>Phase marks on stderr in CLOCK_MONOTONIC seconds, to cut a <c>perf record -k CLOCK_MONOTONIC</c> profile by phase.</summary>
    private static void Mark(string phase) =>
        Console.Error.WriteLine($"# {phase} at {Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency:F6}");

    private static string Describe(IReadOnlyDictionary<string, long> requests) =>
        string.Join(", ", requests.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}: {kv.Value}"));

    private static bool AllReady(FakeKubeApiServer fake, int count) =>
        fake.List("exportschedules", Ns).Count(s => (s["status"]?["conditions"] as JsonArray)?.Any(c => (string?)c?["type"] == "Ready" && (string?)c["status"] == "True") == true) == count;

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static async Task Until(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("benchmark condition not reached");
            }

            await Task.Delay(20);
        }
    }

    private static JsonObject Schedule(int i) => (JsonObject)ScheduleDocument.ParseYaml($"""
        apiVersion: bulkexport.io/v1alpha1
        kind: ExportSchedule
        metadata:
          name: reg{i}
          namespace: {Ns}
        spec:
          register: R{i}
          total: {"{"}schedule: "0 3 * * 6"{"}"}
          delta: {"{"}schedule: "0 3 * * *"{"}"}
          source:
            files: {"{"}path: /data, claimName: snapshots{"}"}
          entities:
            - name: Adresse
              key: [id]
          storage:
            local: {"{"}path: /out, claimName: exports{"}"}
        """)[0]!;
}
