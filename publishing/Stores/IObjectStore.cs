namespace BulkExport.Publishing.Stores;

/// <summary>
/// Where files are published: an S3 bucket and prefix, or a local directory. Keys are relative to
/// the storage root and use '/'. Implementations keep the invariants of DESIGN.md's publishing
/// protocol: an object is either absent or complete, and <see cref="TryCreateAsync"/> is atomic.
/// </summary>
internal interface IObjectStore : IObjectReader
{
    /// <summary>Atomic create-if-absent (S3 If-None-Match: *, filesystem create-new). False if the key exists.</summary>
    Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    /// <summary>Creates or replaces a small object; readers see the old or the new content, never a mix.</summary>
    Task PutBytesAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken);

    /// <summary>
    /// Uploads a local file. <paramref name="sha256Hex"/> is the file's checksum, computed by the caller;
    /// the store records it (object metadata) and checks the stored size (and checksum where it can).
    /// The store may keep the file's inode (a local store hard-links it): afterwards the caller deletes the
    /// file or leaves it alone, but never writes to it.
    /// </summary>
    Task PutFileAsync(string key, string localPath, string sha256Hex, string contentType, CancellationToken cancellationToken);

    /// <summary>Server-side copy (re-issue of an unchanged total). The target appears complete or not at all.</summary>
    Task CopyAsync(string sourceKey, string targetKey, CancellationToken cancellationToken);

    /// <summary>Deletes the keys; missing ones are not an error. Batches as the backend allows.</summary>
    Task DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken);
}

/// <summary>
/// The read-only view of a store: all the download service is given, so its path cannot write.
/// </summary>
internal interface IObjectReader
{
    /// <summary>Human-readable location of a key, for messages (s3://bucket/prefix/key or a path).</summary>
    string Describe(string key);

    /// <summary>The object's bytes, or null when it does not exist.</summary>
    Task<byte[]?> GetBytesAsync(string key, CancellationToken cancellationToken);

    Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Every object whose key starts with <paramref name="prefix"/>, in no particular order.</summary>
    IAsyncEnumerable<StoredObject> ListAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>
    /// A conditional and/or ranged read: <see cref="ReadOutcome.NotModified"/> when the object's ETag
    /// equals <see cref="ReadConditions.IfNoneMatch"/> (callers also compare the returned ETag: some
    /// S3-compatible stores ignore the condition), only the requested bytes when a range is given.
    /// </summary>
    Task<ObjectRead> ReadAsync(string key, ReadConditions conditions, CancellationToken cancellationToken);

    /// <summary>
    /// A URL that lets anyone holding it GET the object until <paramref name="lifetime"/> has passed,
    /// or null when the store has no URL of its own (a directory: the caller serves the bytes).
    /// </summary>
    Uri? PresignGet(string key, TimeSpan lifetime, string? downloadName);
}

/// <param name="IfNoneMatch">An ETag as the store returned it; a match gives <see cref="ReadOutcome.NotModified"/>.</param>
/// <param name="Range">Bytes to return; null for the whole object.</param>
internal sealed record ReadConditions(string? IfNoneMatch = null, ByteRange? Range = null)
{
    public static readonly ReadConditions None = new();
}

/// <summary>Bytes <see cref="From"/> to <see cref="To"/> inclusive; a null end means to the end of the object.</summary>
internal readonly record struct ByteRange(long From, long? To)
{
    /// <summary>The range clipped to an object of <paramref name="size"/> bytes, or null when no byte of it exists.</summary>
    public (long From, long Length)? Resolve(long size)
    {
        if (From < 0 || From >= size || (To is { } end && end < From))
        {
            return null;
        }

        var last = Math.Min(To ?? (size - 1), size - 1);
        return (From, last - From + 1);
    }
}

internal enum ReadOutcome
{
    Found,
    NotModified,
    NotFound,
    RangeNotSatisfiable,
}

/// <summary>The result of <see cref="IObjectReader.ReadAsync"/>; dispose it to release the connection or file.</summary>
internal sealed class ObjectRead : IAsyncDisposable
{
    public required ReadOutcome Outcome { get; init; }

    /// <summary>The store's ETag of the whole object (quoted, as HTTP has it); empty when not found.</summary>
    public string ETag { get; init; } = "";

    /// <summary>Size of the whole object.</summary>
    public long Size { get; init; }

    public DateTimeOffset LastModified { get; init; }

    /// <summary>Offset of the first returned byte (0 without a range).</summary>
    public long Offset { get; init; }

    /// <summary>Bytes in <see cref="Content"/>.</summary>
    public long Length { get; init; }

    /// <summary>The bytes when <see cref="Outcome"/> is <see cref="ReadOutcome.Found"/>.</summary>
    public Stream? Content { get; init; }

    public static ObjectRead NotFound { get; } = new() { Outcome = ReadOutcome.NotFound };

    public async Task<byte[]> ReadAllBytesAsync(CancellationToken cancellationToken)
    {
        if (Content is null)
        {
            return [];
        }

        using var buffer = new MemoryStream((int)Math.Min(Length, int.MaxValue));
        await Content.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    public ValueTask DisposeAsync() => Content?.DisposeAsync() ?? ValueTask.CompletedTask;
}

internal sealed record StoredObject(string Key, long Size, DateTimeOffset LastModified);

/// <summary>A store failure; <see cref="Transient"/> ones (5xx, throttling, resets) are worth retrying later (exit 75).</summary>
internal sealed class StoreException(string message, bool transient, Exception? inner = null) : Exception(message, inner)
{
    public bool Transient { get; } = transient;
}
