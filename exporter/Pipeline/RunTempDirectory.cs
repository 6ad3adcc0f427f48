namespace BulkExport.Exporter.Pipeline;

/// <summary>
/// A run's staging folder, <c>{temp}/bulkexport-run-{pid}-{guid}</c>, holding an exclusively locked
/// <c>owner.lock</c> for as long as the run lives. The kernel drops the lock when the process dies
/// however it dies (SIGKILL, OOM kill, power loss), so a later run can tell a crashed run's folder
/// from a live one without trusting process ids, which get reused.
/// </summary>
internal sealed class RunTempDirectory : IDisposable
{
    public const string Prefix = "bulkexport-run-";
    private const string LockFileName = "owner.lock";

    private readonly FileStream _lock;

    private RunTempDirectory(string path, FileStream @lock)
    {
        FullName = path;
        _lock = @lock;
    }

    public string FullName { get; }

    public static RunTempDirectory Create(string root)
    {
        var path = Path.Combine(root, $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        // FileShare.None takes an exclusive advisory lock (flock) on Unix; other runs probe it.
        var @lock = new FileStream(Path.Combine(path, LockFileName), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        return new RunTempDirectory(path, @lock);
    }

    /// <summary>
    /// Deletes the folders of runs that are gone: their lock file can be locked. A folder whose lock
    /// is held belongs to a live run and is left alone; so is one still being created (no lock file yet
    /// and younger than a minute). Returns the folders deleted.
    /// </summary>
    public static IReadOnlyList<string> DeleteAbandoned(string root, TimeProvider time)
    {
        var deleted = new List<string>();
        if (!Directory.Exists(root))
        {
            return deleted;
        }

        foreach (var folder in Directory.EnumerateDirectories(root, Prefix + "*"))
        {
            var lockPath = Path.Combine(folder, LockFileName);
            try
            {
                if (!File.Exists(lockPath))
                {
                    if (time.GetUtcNow() - Directory.GetCreationTimeUtc(folder) > TimeSpan.FromMinutes(1))
                    {
                        Directory.Delete(folder, recursive: true);
                        deleted.Add(folder);
                    }

                    continue;
                }

                using (new FileStream(lockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
                {
                    // Holding the dead owner's lock while deleting keeps a second cleaner out.
                    foreach (var entry in Directory.EnumerateFileSystemEntries(folder))
                    {
                        if (entry == lockPath)
                        {
                            continue;
                        }

                        if (Directory.Exists(entry))
                        {
                            Directory.Delete(entry, recursive: true);
                        }
                        else
                        {
                            File.Delete(entry);
                        }
                    }
                }

                Directory.Delete(folder, recursive: true);
                deleted.Add(folder);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Locked by a live run, or removed by another cleaner meanwhile: not ours to delete.
            }
        }

        return deleted;
    }

    public void Dispose()
    {
        _lock.Dispose();
        try
        {
            Directory.Delete(FullName, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
