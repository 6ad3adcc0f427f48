using System.Diagnostics;
using BulkExport.Exporter.Pipeline;

namespace BulkExport.Exporter.Tests.Pipeline;

/// <summary>Staging folders of runs that died are removed by later runs; a live run's never is.</summary>
public sealed class RunTempDirectoryTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("run-temp-").FullName;

    [Fact]
    public void AFolderWhoseOwnerIsAlive_IsKept_AndDeletedWhenTheOwnerIsDone()
    {
        var live = RunTempDirectory.Create(_root);
        File.WriteAllText(Path.Combine(live.FullName, "part.zip"), "x");

        Assert.Empty(RunTempDirectory.DeleteAbandoned(_root));
        Assert.True(File.Exists(Path.Combine(live.FullName, "part.zip")));

        live.Dispose();
        Assert.False(Directory.Exists(live.FullName));
    }

    [Fact]
    public async Task AFolderOfAKilledProcess_IsDeleted_WhileAnotherProcesssLiveFolderIsKept()
    {
        // Real processes hold the lock: one is SIGKILLed, one keeps running.
        var killed = StartLockHolder(out var killedFolder);
        var alive = StartLockHolder(out var aliveFolder);
        try
        {
            await WaitForLockAsync(killedFolder);
            await WaitForLockAsync(aliveFolder);
            killed.Kill();
            await killed.WaitForExitAsync();

            var deleted = RunTempDirectory.DeleteAbandoned(_root);

            Assert.Equal([killedFolder], deleted);
            Assert.False(Directory.Exists(killedFolder));
            Assert.True(Directory.Exists(aliveFolder));
        }
        finally
        {
            alive.Kill();
            await alive.WaitForExitAsync();
            killed.Dispose();
            alive.Dispose();
        }
    }

    [Fact]
    public void AFolderWithoutItsLockFile_IsDeleted_OtherFoldersAreNeverTouched()
    {
        // A run takes its lock before it makes the folder and drops it after removing the folder, so
        // a folder without a lock file was left by a run that died.
        var orphan = Directory.CreateDirectory(Path.Combine(_root, RunTempDirectory.Prefix + "1-orphan")).FullName;
        var unrelated = Directory.CreateDirectory(Path.Combine(_root, "bulkexport-DAR-3-abc")).FullName;

        Assert.Equal([orphan], RunTempDirectory.DeleteAbandoned(_root));
        Assert.True(Directory.Exists(unrelated));
    }

    [Fact]
    public async Task RunsOfOneProcessStartingAtOnce_NeverDeleteEachOthersFolders()
    {
        // The regression: concurrent runs in one process share the root; each run cleans up first.
        var folders = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() =>
        {
            RunTempDirectory.DeleteAbandoned(_root);
            var run = RunTempDirectory.Create(_root);
            RunTempDirectory.DeleteAbandoned(_root);
            return run;
        })));

        Assert.All(folders, f => Assert.True(Directory.Exists(f.FullName), f.FullName));
        foreach (var f in folders)
        {
            f.Dispose();
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(_root));
    }

    /// <summary>Another process holding the folder's lock file exclusively (flock), as a run does; exec keeps it one process, so a kill releases it.</summary>
    private Process StartLockHolder(out string folder)
    {
        folder = Path.Combine(_root, $"{RunTempDirectory.Prefix}{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        var start = new ProcessStartInfo("bash") { ArgumentList = { "-c", "exec 9>\"$1\" && flock -x 9 && exec sleep 60", "lock", folder + ".lock" } };
        return Process.Start(start)!;
    }

    private static async Task WaitForLockAsync(string folder)
    {
        for (var i = 0; i < 100 && !IsLocked(folder + ".lock"); i++)
        {
            await Task.Delay(50);
        }
    }

    private static bool IsLocked(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
