using System.Diagnostics;
using System.Text.Json.Nodes;
using BulkExport.Exporter.Tests.Configuration;

namespace BulkExport.Exporter.Tests.Cli;

/// <summary>The exporter as users and the operator run it: a process, its exit code, stdout and the termination log.</summary>
public sealed class ExporterProcessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("exporter-cli-").FullName;

    private async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var exporter = Path.Combine(AppContext.BaseDirectory, "exporter.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _dir };
        start.ArgumentList.Add(exporter);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["BULKEXPORT_TERMINATION_LOG"] = Path.Combine(_dir, "termination-log");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        return (process.ExitCode, await stdout, await stderr);
    }

    private string WriteConfig(string yaml)
    {
        var path = Path.Combine(_dir, "schedule.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public async Task BadConfig_ExitsWith2_NamesEveryField_AndWritesNothing()
    {
        var yaml = ScheduleDocumentTests.Valid
            .Replace("register: DAR", "register: dar", StringComparison.Ordinal)
            .Replace("      key: [postnr]\n", "", StringComparison.Ordinal)
            .Replace("local: {path: ./out}", $"local: {{path: {_dir}/out}}", StringComparison.Ordinal);

        var (exitCode, stdout, stderr) = await RunAsync("run", "--config", WriteConfig(yaml), "--type", "total");

        Assert.Equal(2, exitCode);
        Assert.Contains("spec.register: 'dar' does not match", stderr, StringComparison.Ordinal);
        Assert.Contains("spec.entities[1].key: required", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")));
        var summary = JsonNode.Parse(stdout)!;
        Assert.Equal("Failed", (string)summary["outcome"]!);
        Assert.Equal(2, (int)summary["exitCode"]!);
        Assert.Equal(stdout.Trim(), (await File.ReadAllTextAsync(Path.Combine(_dir, "termination-log"))).Trim());
    }

    [Fact]
    public async Task UnknownOption_IsAUsageError_ExitCode2()
    {
        var (exitCode, _, stderr) = await RunAsync("run", "--config", "x.yaml", "--type", "weekly");

        Assert.Equal(2, exitCode);
        Assert.Contains("weekly", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_ListsTheCommands()
    {
        var (exitCode, stdout, _) = await RunAsync("--help");

        Assert.Equal(0, exitCode);
        foreach (var command in new[] { "run", "list", "verify", "gc" })
        {
            Assert.Contains(command, stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Run_OnTheFileSource_WritesTheSummary_AndListAndVerifyAgree()
    {
        var source = Path.Combine(_dir, "src");
        Directory.CreateDirectory(source);
        await File.WriteAllTextAsync(Path.Combine(source, "Postnummer.jsonl"), "{\"postnr\":8000,\"navn\":\"Aarhus C\"}\n{\"postnr\":9000,\"navn\":\"Aalborg\"}\n");
        await File.WriteAllTextAsync(Path.Combine(source, "Adresse.jsonl"), "{\"id\":\"a\",\"registreringfra\":\"2020-01-01T00:00:00Z\",\"registreringtil\":null,\"virkningfra\":\"2020-01-01T00:00:00Z\",\"virkningtil\":null}\n");
        var config = WriteConfig(ScheduleDocumentTests.Valid
            .Replace("files: {path: /data}", $"files: {{path: {source}}}", StringComparison.Ordinal)
            .Replace("local: {path: ./out}", $"local: {{path: {_dir}/out}}", StringComparison.Ordinal));

        var (exitCode, stdout, stderr) = await RunAsync("run", "--config", config, "--type", "total");

        Assert.True(exitCode == 0, stderr);
        var summary = JsonNode.Parse(stdout)!;
        Assert.Equal("Succeeded", (string)summary["outcome"]!);
        Assert.Equal(1, (long)summary["generation"]!);
        Assert.True(File.Exists(Path.Combine(_dir, "out", "DAR", "catalog.json")));
        Assert.True(stdout.Length < 4096);

        var list = await RunAsync("list", "--config", config, "--json");
        Assert.Equal(0, list.ExitCode);
        Assert.Equal((long)summary["files"]!, JsonNode.Parse(list.Stdout)!.AsArray().Count);

        var verify = await RunAsync("verify", "--config", config);
        Assert.Equal(0, verify.ExitCode);
        Assert.Contains("consistent", verify.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingSourceFile_ExitsWith1_NamingTheEntity()
    {
        var config = WriteConfig(ScheduleDocumentTests.Valid
            .Replace("files: {path: /data}", $"files: {{path: {_dir}/nothing}}", StringComparison.Ordinal)
            .Replace("local: {path: ./out}", $"local: {{path: {_dir}/out}}", StringComparison.Ordinal));

        var (exitCode, _, stderr) = await RunAsync("run", "--config", config);

        Assert.Equal(1, exitCode);
        Assert.Contains("Adresse", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "out", "DAR", "catalog.json")));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
