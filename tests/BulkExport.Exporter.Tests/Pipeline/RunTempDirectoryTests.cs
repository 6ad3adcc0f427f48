using System.Diagnostics;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Tests.Support;

namespace BulkExport.Exporter.Tests.Pipeline;

/// <summary>Staging folders of runs that died are removed by later runs; a live run's never is.</summary>
public sealed class RunTempDirectoryTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("run-temp-").FullName;
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    [Fact]
    public void AFolderWhoseOwnerIsAlive_IsKept_AndDeletedWhenTheOwnerIsDone()
    {
        var live = RunTempDirectory.Create(_root);
        File.WriteAllText(Path.Combine(live.FullName, "part.zip"), "x");

        Assert.Empty(RunTempDirectory.DeleteAbandoned(_root, _time));
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

            var deleted = RunTempDirectory.DeleteAbandoned(_root, _time);

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
    public void AFolderWithoutALockFile_IsKeptWhileYoung_AndDeletedOnceOld_OtherFoldersAreNeverTouched()
    {
        var young = Directory.CreateDirectory(Path.Combine(_root, RunTempDirectory.Prefix + "1-young")).FullName;
        var unrelated = Directory.CreateDirectory(Path.Combine(_root, "bulkexport-DAR-3-abc")).FullName;

        Assert.Empty(RunTempDirectory.DeleteAbandoned(_root, _time));

        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal([young], RunTempDirectory.DeleteAbandoned(_root, _time));
        Assert.True(Directory.Exists(unrelated));
    }

    /// <summary>Another process holding owner.lock exclusively (flock), as a run does; exec keeps it one process, so a kill releases it.</summary>
    private Process StartLockHolder(out string folder)
    {
        folder = Path.Combine(_root, $"{RunTempDirectory.Prefix}{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        var start = new ProcessStartInfo("bash") { ArgumentList = { "-c", "exec 9>\"$1\" && flock -x 9 && exec sleep 60", "lock", Path.Combine(folder, "owner.lock") } };
        return Process.Start(start)!;
    }

    private static async Task WaitForLockAsync(string folder)
    {
        for (var i = 0; i < 100 && !IsLocked(Path.Combine(folder, "owner.lock")); i++)
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
