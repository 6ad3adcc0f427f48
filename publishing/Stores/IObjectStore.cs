namespace BulkExport.Publishing.Stores;

/// <summary>
/// Where files are published: an S3 bucket and prefix, or a local directory. Keys are relative to
/// the storage root and use '/'. Implementations keep the invariants of DESIGN.md's publishing
/// protocol: an object is either absent or complete, and <see cref="TryCreateAsync"/> is atomic.
/// </summary>
internal interface IObjectStore
{
    /// <summary>Human-readable location of a key, for messages (s3://bucket/prefix/key or a path).</summary>
    string Describe(string key);

    /// <summary>Atomic create-if-absent (S3 If-None-Match: *, filesystem create-new). False if the key exists.</summary>
    Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    /// <summary>Creates or replaces a small object; readers see the old or the new content, never a mix.</summary>
    Task PutBytesAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken);

    /// <summary>
    /// Uploads a local file. <paramref name="sha256Hex"/> is the file's checksum, computed by the caller;
    /// the store records it (object metadata) and checks the stored size (and checksum where it can).
    /// </summary>
    Task PutFileAsync(string key, string localPath, string sha256Hex, string contentType, CancellationToken cancellationToken);

    /// <summary>The object's bytes, or null when it does not exist.</summary>
    Task<byte[]?> GetBytesAsync(string key, CancellationToken cancellationToken);

    Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Every object whose key starts with <paramref name="prefix"/>, in no particular order.</summary>
    IAsyncEnumerable<StoredObject> ListAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Server-side copy (re-issue of an unchanged total). The target appears complete or not at all.</summary>
    Task CopyAsync(string sourceKey, string targetKey, CancellationToken cancellationToken);

    /// <summary>Deletes the keys; missing ones are not an error. Batches as the backend allows.</summary>
    Task DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken);
}

internal sealed record StoredObject(string Key, long Size, DateTimeOffset LastModified);

/// <summary>A store failure; <see cref="Transient"/> ones (5xx, throttling, resets) are worth retrying later (exit 75).</summary>
internal sealed class StoreException(string message, bool transient, Exception? inner = null) : Exception(message, inner)
{
    public bool Transient { get; } = transient;
}
