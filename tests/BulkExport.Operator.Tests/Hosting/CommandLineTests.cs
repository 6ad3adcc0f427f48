using System.Diagnostics;
using System.Text;
using BulkExport.Operator.Tests.Support;

namespace BulkExport.Operator.Tests.Hosting;

/// <summary>The real <c>operator</c> executable, started as a process against a kubeconfig.</summary>
public sealed class CommandLineTests
{
    private static ProcessStartInfo Operator(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "operator.dll"));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment.Remove("KUBERNETES_SERVICE_HOST");
        return psi;
    }

    [Fact]
    public async Task Run_uses_the_current_kubeconfig_context_and_exports_metrics_only_when_otlp_is_configured()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        var kubeconfig = Path.GetTempFileName();
        await File.WriteAllTextAsync(kubeconfig, $"""
            apiVersion: v1
            kind: Config
            current-context: fake
            contexts: [{"{"}name: fake, context: {"{"}cluster: fake, user: fake{"}"}{"}"}]
            clusters: [{"{"}name: fake, cluster: {"{"}server: "{fx.Server.Url}"{"}"}{"}"}]
            users: [{"{"}name: fake, user: {"{"}token: t{"}"}{"}"}]
            """);
        var psi = Operator("run", "--health-port", "0", "--exporter-image", "exporter:cli");
        psi.Environment["KUBECONFIG"] = kubeconfig;
        // Nothing listens there: exporting must not disturb reconciling.
        psi.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:1";
        using var process = Process.Start(psi)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await OperatorFixture.Eventually(() => fx.CronJob("dar-total") is not null || process.HasExited, "CronJob created by the operator process", TimeSpan.FromSeconds(30));
            Assert.False(process.HasExited, $"operator exited:\n{output}");
            Assert.Equal("exporter:cli", (string?)fx.CronJob("dar-total")!["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]);
            await OperatorFixture.Eventually(() => { lock (output) { return output.ToString().Contains("\"schedule\":\"registers/dar\"", StringComparison.Ordinal); } }, "JSON logs with the schedule scope");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public async Task Render_prints_yaml_and_a_bad_schedule_exits_2_naming_the_field()
    {
        var bad = Path.GetTempFileName();
        await File.WriteAllTextAsync(bad, File.ReadAllText(TestSchedules.SamplePath).Replace("register: DAR", "register: dar", StringComparison.Ordinal));
        try
        {
            var (ok, okOut) = await RunAsync(Operator("render", "-f", TestSchedules.SamplePath));
            var (fail, failOut) = await RunAsync(Operator("render", "-f", bad));

            Assert.Equal(0, ok);
            Assert.Contains("kind: CronJob", okOut, StringComparison.Ordinal);
            Assert.Equal(2, fail);
            Assert.Contains("spec.register", failOut, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(bad);
        }
    }

    private static async Task<(int Exit, string Output)> RunAsync(ProcessStartInfo psi)
    {
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
