using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BulkExport.Publishing.Stores;

/// <summary>
/// A directory as the store. Every object appears by rename, so readers never see a half-written
/// file; create-if-absent is a hard link, which fails atomically when the name exists.
/// </summary>
internal sealed partial class LocalObjectStore : IObjectStore
{
    private const int EEXIST = 17;
    private const string TempMarker = ".tmp-";
    private readonly string _root;

    public LocalObjectStore(string root)
        : this(root, create: true)
    {
    }

    private LocalObjectStore(string root, bool create)
    {
        _root = Path.GetFullPath(root);
        if (create)
        {
            Directory.CreateDirectory(_root);
        }
    }

    /// <summary>The directory as a read-only view; unlike the constructor it does not create the directory.</summary>
    public static IObjectReader ForReading(string root) => new LocalObjectStore(root, create: false);

    public string Root => _root;

    public string Describe(string key) => PathOf(key);

    /// <summary>The file holding <paramref name="key"/>, so that the download service can send it without a stream in between.</summary>
    public string FilePath(string key) => PathOf(key);

    public async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var target = PathOf(key);
        if (!OperatingSystem.IsWindows())
        {
            var temp = await WriteTempAsync(target, content, cancellationToken).ConfigureAwait(false);
            try
            {
                // link(2) fails with EEXIST when the name exists, atomically; .NET's File.Move
                // without overwrite checks first and renames, so two writers can both "win".
                if (Link(temp, target) == 0)
                {
                    return true;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno == EEXIST)
                {
                    return false;
                }

                // Filesystems without hard links: fall through to an exclusive create.
            }
            finally
            {
                File.Delete(temp);
            }
        }

        try
        {
            await using var stream = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous);
            await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
            return true;
        }
        catch (IOException) when (File.Exists(target))
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);

    public async Task PutBytesAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken)
    {
        var target = PathOf(key);
        var temp = await WriteTempAsync(target, content, cancellationToken).ConfigureAwait(false);
        File.Move(temp, target, overwrite: true);
    }

    public Task PutFileAsync(string key, string localPath, string sha256Hex, string contentType, CancellationToken cancellationToken)
    {
        var target = PathOf(key);
        var expected = new FileInfo(localPath).Length;
        cancellationToken.ThrowIfCancellationRequested();
        var temp = PlaceTemp(localPath, target, link: true);
        var written = new FileInfo(temp).Length;
        if (written != expected)
        {
            File.Delete(temp);
            throw new StoreException($"{target}: wrote {written} bytes, expected {expected}", transient: true);
        }

        File.Move(temp, target, overwrite: true);
        return Task.CompletedTask;
    }

    /// <summary>
    /// <paramref name="source"/>'s bytes under a temporary name beside <paramref name="target"/>, on disk,
    /// modified now (the object's age is its time in the store: the orphans' grace period, Last-Modified).
    /// With <paramref name="link"/> and on the same filesystem a hard link: no byte is copied, and the one
    /// fsync writes back what the caller left in the page cache (a zip is not fsynced while it is staged).
    /// Only for a caller's file that it deletes afterwards, never for another object, whose inode (and
    /// so ETag) a shared modification time would change. Otherwise a kernel-side copy (File.Copy).
    /// </summary>
    private static string PlaceTemp(string source, string target, bool link)
    {
        var temp = TempPathFor(target);
        if (!link || OperatingSystem.IsWindows() || Link(source, temp) != 0)
        {
            // Not asked for, EXDEV (another filesystem), or a filesystem without hard links.
            File.Copy(source, temp);
        }

        try
        {
            using var placed = new FileStream(temp, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1);
            File.SetLastWriteTimeUtc(placed.SafeFileHandle, DateTime.UtcNow);
            placed.Flush(flushToDisk: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        return temp;
    }

    public async Task<byte[]?> GetBytesAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            return await File.ReadAllBytesAsync(PathOf(key), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            Stream stream = new FileStream(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.SequentialScan | FileOptions.Asynchronous);
            return Task.FromResult(stream);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new StoreException($"{PathOf(key)}: not found", transient: false, e);
        }
    }

    public Task<ObjectRead> ReadAsync(string key, ReadConditions conditions, CancellationToken cancellationToken)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult(ObjectRead.NotFound);
        }

        try
        {
            // Size and time of the open file: a rename that replaces the name does not change what this handle reads.
            var size = stream.Length;
            var modified = new DateTimeOffset(File.GetLastWriteTimeUtc(stream.SafeFileHandle), TimeSpan.Zero);
            var etag = $"\"{size:x}-{modified.UtcTicks:x}\"";
            if (conditions.IfNoneMatch is { } match && string.Equals(match, etag, StringComparison.Ordinal))
            {
                stream.Dispose();
                return Task.FromResult(new ObjectRead { Outcome = ReadOutcome.NotModified, ETag = etag, Size = size, LastModified = modified });
            }

            if (conditions.Range is not { } range)
            {
                return Task.FromResult(new ObjectRead { Outcome = ReadOutcome.Found, ETag = etag, Size = size, LastModified = modified, Length = size, Content = stream });
            }

            if (range.Resolve(size) is not { } resolved)
            {
                stream.Dispose();
                return Task.FromResult(new ObjectRead { Outcome = ReadOutcome.RangeNotSatisfiable, ETag = etag, Size = size, LastModified = modified });
            }

            stream.Position = resolved.From;
            return Task.FromResult(new ObjectRead
            {
                Outcome = ReadOutcome.Found,
                ETag = etag,
                Size = size,
                LastModified = modified,
                Offset = resolved.From,
                Length = resolved.Length,
                Content = new BoundedStream(stream, resolved.Length),
            });
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>A directory has no URL of its own; the download service serves its bytes.</summary>
    public Uri? PresignGet(string key, TimeSpan lifetime, string? downloadName) => null;

    public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The prefix may end inside a name ("DAR/generations/00"), so walk from its folder.
        var slash = prefix.LastIndexOf('/');
        var folder = slash < 0 ? _root : PathOf(prefix[..slash]);
        if (!Directory.Exists(folder))
        {
            yield break;
        }

        foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var key = Path.GetRelativePath(_root, file).Replace(Path.DirectorySeparatorChar, '/');
            if (!key.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            FileInfo info = new(file);
            if (info.Exists)
            {
                yield return new StoredObject(key, info.Length, info.LastWriteTimeUtc);
            }
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    public Task CopyAsync(string sourceKey, string targetKey, CancellationToken cancellationToken)
    {
        var source = PathOf(sourceKey);
        if (!File.Exists(source))
        {
            throw new StoreException($"{source}: copy source not found", transient: false);
        }

        var target = PathOf(targetKey);
        cancellationToken.ThrowIfCancellationRequested();
        var temp = PlaceTemp(source, target, link: false);
        File.Move(temp, target, overwrite: true);
        return Task.CompletedTask;
    }

    public Task DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        foreach (var key in keys)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var path = PathOf(key);
            File.Delete(path);
            RemoveEmptyFolders(Path.GetDirectoryName(path)!);
        }

        return Task.CompletedTask;
    }

    private void RemoveEmptyFolders(string folder)
    {
        while (folder.Length > _root.Length && folder.StartsWith(_root, StringComparison.Ordinal))
        {
            try
            {
                if (Directory.EnumerateFileSystemEntries(folder).Any())
                {
                    return;
                }

                Directory.Delete(folder);
            }
            catch (IOException)
            {
                return;
            }

            folder = Path.GetDirectoryName(folder)!;
        }
    }

    private string PathOf(string key)
    {
        if (key.Length == 0 || key.StartsWith('/') || key.Contains('\\') || key.Split('/').Any(s => s is ".." or "."))
        {
            throw new ArgumentException($"'{key}' is not a valid object key", nameof(key));
        }

        return Path.Combine(_root, key.Replace('/', Path.DirectorySeparatorChar));
    }

    private static string TempPathFor(string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        return Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}{TempMarker}{Guid.NewGuid():N}");
    }

    private static async Task<string> WriteTempAsync(string target, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var temp = TempPathFor(target);
        await using var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous);
        await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
        stream.Flush(flushToDisk: true);
        return temp;
    }
}
