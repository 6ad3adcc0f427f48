using System.Diagnostics;
using System.Text.Json.Nodes;
using BulkExport.Operator.Hosting;
using BulkExport.Operator.Tests.Support;

namespace BulkExport.Operator.Tests.Validation;

/// <summary>
/// Everything the operator writes, the CRD and an example schedule are checked against the upstream
/// Kubernetes schemas (npm kubernetes-models) and the CRD's own schema, by tools/k8s-validate.
/// </summary>
public sealed class UpstreamSchemaTests
{
    private const string Ns = TestSchedules.Namespace;

    [Fact]
    public async Task Every_object_the_operator_writes_and_the_crd_and_example_validate_against_upstream_schemas()
    {
        var validator = Path.Combine(RepoPaths.Root, "tools", "k8s-validate", "validate.mjs");
        Assert.True(File.Exists(validator), $"{validator} is missing; bring it in with `git checkout packaging -- tools/k8s-validate`");
        Assert.True(Directory.Exists(Path.Combine(RepoPaths.Root, "tools", "k8s-validate", "node_modules")),
            "tools/k8s-validate has no node_modules; run `(cd tools/k8s-validate && npm ci)` (.ci/install.sh does)");

        var dump = Directory.CreateTempSubdirectory("operator-objects").FullName;
        try
        {
            await WriteEverythingAsync(dump);
            File.Copy(RepoPaths.Crd, Path.Combine(dump, "crd.yaml"));
            File.Copy(TestSchedules.SamplePath, Path.Combine(dump, "example-schedule.yaml"));
            File.WriteAllText(Path.Combine(dump, "render.yaml"), Program.Render(TestSchedules.SamplePath, OperatorOptions.DefaultExporterImage));

            var (exit, output) = await RunAsync("node", validator, "--crd", RepoPaths.Crd, dump);

            Assert.True(exit == 0, $"validator exit {exit}:\n{output}");
            Assert.Contains("ok CronJob registers/dar-total", output, StringComparison.Ordinal);
            Assert.Contains("ok Event", output, StringComparison.Ordinal);
            Assert.Contains("ok Lease", output, StringComparison.Ordinal);
            Assert.Contains("ok ExportSchedule registers/dar", output, StringComparison.Ordinal);
            Assert.Contains("ok CustomResourceDefinition exportschedules.bulkexport.io", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dump, recursive: true);
        }
    }

    /// <summary>Drives the operator through creation, invalid input, drift repair, job results and leader election, then dumps every write.</summary>
    private static async Task WriteEverythingAsync(string dump)
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.Server.RecordWrites = false;
        fx.Server.Create("secrets", TestSchedules.Secret("dar-db", "connectionString"));
        fx.Server.Create("secrets", TestSchedules.Secret("s3-creds", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"));
        fx.CreateSchedule(TestSchedules.Sample());
        fx.CreateSchedule(TestSchedules.Files("local", register: "BBR"));
        var bad = TestSchedules.Files("bad", register: "MAT");
        // Passes the CRD (five fields) but not cron: the case only the operator can catch.
        bad["spec"]!["total"]!["schedule"] = "61 3 * * *";
        fx.CreateSchedule(bad);
        fx.Server.RecordWrites = true;

        await using var op = await fx.StartOperator(new OperatorOptions
        {
            ExporterImage = "exporter:test",
            LeaderElection = true,
            LeaseNamespace = "bulkexport",
            LeaseDuration = TimeSpan.FromSeconds(3),
            RenewDeadline = TimeSpan.FromSeconds(2),
            RetryPeriod = TimeSpan.FromMilliseconds(200),
        }).StartedAsync();
        await OperatorFixture.Eventually(() => OperatorFixture.Condition(fx.Schedule("dar"), "Ready") == "True"
            && OperatorFixture.Condition(fx.Schedule("bad"), "Ready") == "False", "schedules reconciled");

        fx.Server.Mutate("cronjobs", Ns, "local-total", c => c["spec"]!["schedule"] = "* * * * *");
        fx.FinishJob("dar", "total", "dar-total-1", succeeded: true, TestSchedules.SummaryJson(1, "total"), DateTimeOffset.UtcNow.AddMinutes(-1));
        fx.FinishJob("dar", "delta", "dar-delta-2", succeeded: false, "panic: no summary, just logs\n");
        await OperatorFixture.Eventually(() => fx.Schedule("dar")!["status"]?["lastFailure"] is not null && fx.Schedule("dar")!["status"]?["lastTotal"] is not null, "job results recorded");
        await OperatorFixture.Eventually(() => (string?)fx.CronJob("local-total")!["spec"]!["schedule"] == "0 3 * * 6", "drift repaired");
        await op.StopAsync();

        var i = 0;
        foreach (var (verb, plural, body) in fx.Server.Writes)
        {
            File.WriteAllText(Path.Combine(dump, $"{i++:D4}-{verb}-{plural}.json"), body.ToJsonString());
        }

        Assert.Contains(fx.Server.Writes, w => w.Plural == "events");
        Assert.Contains(fx.Server.Writes, w => w.Plural == "leases");
        Assert.Contains(fx.Server.Writes, w => w.Plural == "exportschedules");
        Assert.Contains(fx.Server.Writes, w => w.Plural == "cronjobs" && w.Verb == "PUT");
    }

    private static async Task<(int Exit, string Output)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepoPaths.Root };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"cannot run '{file}' ({e.Message}); Node.js 18+ is required for the manifest validation test (.ci/install.sh installs it)");
            throw;
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, await stdout + await stderr);
        }
    }
}
