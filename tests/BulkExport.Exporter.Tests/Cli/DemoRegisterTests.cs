using System.Diagnostics;
using BulkExport.Exporter.Tests.Publishing;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Publishing.Stores;

namespace BulkExport.Exporter.Tests.Cli;

/// <summary>
/// The user report of issue 9, as the exporter program runs it: after the demo (total, scripted
/// change set, delta), one more total against the original sample. The new total must equal total 1
/// + the deltas, and its own delta must carry the reverted changes.
/// </summary>
public sealed class DemoRegisterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("demo-register-").FullName;

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["BULKEXPORT_TERMINATION_LOG"] = Path.Combine(Path.GetTempPath(), "unused-termination-log");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        return (process.ExitCode, await stdout, await stderr);
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> ExporterAsync(params string[] args) =>
        RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "exporter.dll"), .. args]);

    private string Schedule(string name, string sourcePath, string storePath)
    {
        var yaml = File.ReadAllText(Path.Combine(FingerprintTests.RepoRoot(), "examples", "dar", "schedule.yaml"))
            .Replace("path: examples/dar/source", $"path: {sourcePath}", StringComparison.Ordinal)
            .Replace("path: out\n", $"path: {storePath}\n", StringComparison.Ordinal);
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public async Task DemoThenATotalOfTheOriginalSample_EqualsTotal1PlusDeltas_ByRowsAndFingerprints()
    {
        var repo = FingerprintTests.RepoRoot();
        var original = Path.Combine(repo, "examples", "dar", "source");
        var copy = Path.Combine(_dir, "source");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(original))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        var store = Path.Combine(_dir, "out");
        var demo = Schedule("demo.yaml", copy, store);
        Assert.Equal(0, (await ExporterAsync("run", "--config", demo, "--type", "total")).ExitCode);
        Assert.Equal(0, (await RunAsync("python3", Path.Combine(repo, "examples", "dar", "apply_changes.py"), copy)).ExitCode);
        Assert.Equal(0, (await ExporterAsync("run", "--config", demo, "--type", "delta")).ExitCode);

        var again = Schedule("original.yaml", original, store);
        var (code, _, stderr) = await ExporterAsync("run", "--config", again, "--type", "total");
        Assert.True(code == 0, stderr);

        var local = new LocalObjectStore(store);
        Assert.True(await PublishedMirror.AssertHoldsEveryGenerationAsync(local, "DAR") >= 6);
        var catalog = BulkExport.Publishing.Layout.Catalog.FromBytes((await local.GetBytesAsync("DAR/catalog.json", CancellationToken.None))!, "catalog");
        Assert.Contains(catalog.Files, f => f.EntityName == "Adresse" && f.TypeOfDownload == "DeltaDownload" && f.GenerationNumber == 3 && f.RecordCount > 0);

        var verify = await ExporterAsync("verify", "--config", again);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        Assert.Contains("replays match", verify.Stdout, StringComparison.Ordinal);
        // Every format of the demo, GPKG, GML and PARQUET included, has a reader in `exporter verify`.
        Assert.DoesNotContain("no reader for format", verify.Stdout, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
