namespace BulkExport.Exporter.Pipeline;

/// <summary>
/// A run's staging folder, <c>{temp}/bulkexport-run-{pid}-{guid}</c>, with an exclusively locked
/// <c>{folder}.lock</c> beside it for as long as the run lives. The kernel drops the lock when the
/// process dies however it dies (SIGKILL, OOM kill, power loss), so a later run can tell a crashed
/// run's folder from a live one without trusting process ids, which get reused.
/// The lock is taken before the folder exists and released after it is gone, so a folder without a
/// held lock never belongs to a live run: there is no window in which a cleaner could take a folder
/// that is still being set up (runs of one process share the root too, so a grace period measured
/// against the run's clock would not do: tests run on a fake one).
/// </summary>
internal sealed class RunTempDirectory : IDisposable
{
    public const string Prefix = "bulkexport-run-";
    private const string LockSuffix = ".lock";

    /// <summary>A lock file with no folder is left by a run that died between the two steps; it is only
    /// removed once this old, because a live run holds it from open to flock only a moment later.</summary>
    private static readonly TimeSpan OrphanLockAge = TimeSpan.FromHours(1);

    private readonly FileStream _lock;

    private RunTempDirectory(string path, FileStream @lock)
    {
        FullName = path;
        _lock = @lock;
    }

    public string FullName { get; }

    public static RunTempDirectory Create(string root)
    {
        Directory.CreateDirectory(root);
        var path = Path.Combine(root, $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        // FileShare.None takes an exclusive advisory lock (flock) on Unix; other runs probe it.
        var @lock = new FileStream(path + LockSuffix, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        try
        {
            Directory.CreateDirectory(path);
        }
        catch
        {
            @lock.Dispose();
            File.Delete(path + LockSuffix);
            throw;
        }

        return new RunTempDirectory(path, @lock);
    }

    /// <summary>
    /// Deletes the folders of runs that are gone: their lock file is missing or can be locked. A folder
    /// whose lock is held belongs to a live run and is left alone. Returns the folders deleted.
    /// </summary>
    public static IReadOnlyList<string> DeleteAbandoned(string root)
    {
        var deleted = new List<string>();
        if (!Directory.Exists(root))
        {
            return deleted;
        }

        foreach (var folder in Directory.EnumerateDirectories(root, Prefix + "*"))
        {
            try
            {
                var lockPath = folder + LockSuffix;
                if (!File.Exists(lockPath))
                {
                    Directory.Delete(folder, recursive: true);
                    deleted.Add(folder);
                    continue;
                }

                // Holding the dead owner's lock while deleting keeps a second cleaner out.
                using (new FileStream(lockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
                {
                    Directory.Delete(folder, recursive: true);
                    deleted.Add(folder);
                }

                File.Delete(lockPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Locked by a live run, or removed by another cleaner meanwhile: not ours to delete.
            }
        }

        foreach (var lockPath in Directory.EnumerateFiles(root, Prefix + "*" + LockSuffix))
        {
            // File times come from the kernel's clock, so they are compared with it, not with a TimeProvider.
            if (Directory.Exists(lockPath[..^LockSuffix.Length]) || DateTime.UtcNow - File.GetLastWriteTimeUtc(lockPath) < OrphanLockAge)
            {
                continue;
            }

            try
            {
                using (new FileStream(lockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
                {
                }

                File.Delete(lockPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        return deleted;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(FullName, recursive: true);
        }
        catch (IOException)
        {
            // Left for a later run's DeleteAbandoned, which sees the released lock.
        }

        _lock.Dispose();
        try
        {
            File.Delete(FullName + LockSuffix);
        }
        catch (IOException)
        {
        }
    }
}
