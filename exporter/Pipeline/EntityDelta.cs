using System.Buffers;
using System.Security.Cryptography;
using BulkExport.Api;
using BulkExport.Exporter.Rows;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Sorting;
using Microsoft.Extensions.Logging;

namespace BulkExport.Exporter.Pipeline;

/// <summary>
/// The delta of an entity, plain or temporal alike: every row's identity and digest are compared with
/// the base generation's state. Rows arriving in identity order (a sorted source) are merged as they
/// come; other sources go through an external sort first. Either way memory does not grow with the
/// row count. Also sums the entity's content fingerprint over the rows of its new state.
/// </summary>
internal sealed class EntityDelta : IDisposable
{
    /// <summary>The state file format this code writes; a base in another format is re-based (README, "Upgrading").</summary>
    public const int StateFormat = 2;

    /// <summary>The format of a state with a source watermark (<see cref="DeltaStateFormat.WatermarkedMagic"/>); read like <see cref="StateFormat"/>.</summary>
    public const int WatermarkedStateFormat = 3;

    private readonly GenerationContext _context;
    private readonly EntitySpec _entity;
    private readonly EntityLayout _layout;
    private readonly DeltaStateReader _baseState;
    private readonly DeltaStateWriter _newState;
    private readonly DeltaMerger _merger;
    private readonly ExternalSorter? _sorter;
    private readonly ArrayBufferWriter<byte> _key = new(64);
    private readonly ArrayBufferWriter<byte> _payload = new(1024);
    private readonly ObjectRowView _decoded;
    private readonly byte[] _kept = new byte[RowDigest.Length];
    private readonly int _format;
    private FingerprintSum _fingerprint;

    private EntityDelta(GenerationContext context, EntitySpec entity, EntityLayout layout, IDeltaSink sink, DeltaStateReader baseState, bool sorted, bool rebase, byte[]? watermark)
    {
        _context = context;
        _entity = entity;
        _layout = layout;
        _baseState = baseState;
        Rebase = rebase;
        // A watermarked state holds whole digests, which only the merge-as-they-come path has at hand (the external
        // sort keeps row hashes): an entity whose key the source cannot sort records none, and its deltas compare.
        var recorded = sorted ? watermark : null;
        if (watermark is not null && !sorted)
        {
            context.Logger.WatermarkNeedsSortedKey(entity.Name);
        }

        _format = recorded is null ? StateFormat : WatermarkedStateFormat;
        _newState = new DeltaStateWriter(Path.Combine(context.TempDirectory, $"{entity.Name}-{Guid.NewGuid():N}.state"), recorded);
        _merger = new DeltaMerger(baseState, _newState, entity.Name, [.. layout.IdentityIndexes.Select(i => layout.Columns[i].Name)], sink);
        _sorter = sorted ? null : new ExternalSorter(context.TempDirectory);
        _decoded = new ObjectRowView(layout.Columns);
    }

    /// <summary>The base had no usable state for this entity, so the delta holds the whole state as inserts.</summary>
    public bool Rebase { get; }

    /// <param name="context">The generation.</param>
    /// <param name="entity">The entity.</param>
    /// <param name="layout">Its columns.</param>
    /// <param name="sink">Where changes go.</param>
    /// <param name="deltaBase">The base generation's state of the entity (<see cref="DeltaBase.LoadAsync"/>).</param>
    /// <param name="sortedSource">The rows arrive in key order.</param>
    /// <param name="watermark">The source's watermark for the new state (<see cref="Sources.IChangeTrackingReader.Watermark"/>).</param>
    public static EntityDelta Open(GenerationContext context, EntitySpec entity, EntityLayout layout, IDeltaSink sink, DeltaBase deltaBase, bool sortedSource, byte[]? watermark)
    {
        var sorted = sortedSource && layout.IdentityIndexes.All(i => KeyEncoder.HasSourceCompatibleOrder(layout.Columns[i].Kind));
        // No usable base state: all inserts. For no base (first generation) or an entity new to the register that is
        // exact; a base that lists the entity without a state of a format read here (written by an exporter before
        // state-compared temporal deltas, or an older state format) cannot be brought up to date by changes we can
        // name, so the delta is a re-base.
        return new EntityDelta(context, entity, layout, sink, deltaBase.OpenReader(), sorted, rebase: deltaBase.Listed && !deltaBase.HasState, watermark);
    }

    /// <summary>The base generation's state, checked against the checksum in its manifest, copied to <paramref name="local"/>.</summary>
    internal static async Task DownloadAsync(GenerationContext context, StateFile state, string local, CancellationToken cancellationToken)
    {
        // Hashed on the way, in 1 MB chunks: reading the copy back for its checksum went through a 4 KB FileStream.
        string sha;
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            var chunk = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                await using var input = await context.Store.OpenReadAsync(state.Key, cancellationToken).ConfigureAwait(false);
                await using var output = new FileStream(local, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
                int read;
                while ((read = await input.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(chunk, 0, read);
                    await output.WriteAsync(chunk.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }

            sha = Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        if (sha != state.Sha256)
        {
            throw new InvalidDataException($"{context.Store.Describe(state.Key)}: checksum {sha} does not match the manifest's {state.Sha256}; the delta base is damaged");
        }
    }

    /// <param name="row">A row of the entity's new state.</param>
    /// <param name="digest">Its <see cref="RowDigest"/>.</param>
    public void Add(IRowView row, ReadOnlySpan<byte> digest)
    {
        _fingerprint.Add(digest);
        _key.ResetWrittenCount();
        KeyEncoder.Encode(row, _layout.IdentityIndexes, _key);
        if (_sorter is null)
        {
            _merger.Accept(_key.WrittenSpan, digest, row);
        }
        else
        {
            _payload.ResetWrittenCount();
            RowCodec.Encode(row, _payload);
            _sorter.Add(_key.WrittenSpan, digest, _payload.WrittenSpan);
        }
    }

    /// <summary>
    /// A row the source says is unchanged since the base's watermark (only its key columns are read): it keeps the
    /// base's digest for the new state and the fingerprint, and gives no change.
    /// </summary>
    /// <returns>False when the base cannot vouch for it (no such key, or a state without digests): the caller
    /// abandons this delta and compares every row.</returns>
    public bool TryKeepUnchanged(IRowView row)
    {
        if (_sorter is not null || !_baseState.HasDigests)
        {
            return false;
        }

        _key.ResetWrittenCount();
        KeyEncoder.Encode(row, _layout.IdentityIndexes, _key);
        if (!_merger.TryKeepUnchanged(_key.WrittenSpan, _kept))
        {
            return false;
        }

        _fingerprint.Add(_kept);
        return true;
    }

    /// <summary>Rows of the new state and their fingerprint.</summary>
    public FingerprintSum Fingerprint => _fingerprint;

    public async Task<StateFile> CompleteAsync(CancellationToken cancellationToken)
    {
        if (_sorter is not null)
        {
            foreach (var record in _sorter.ReadSorted())
            {
                cancellationToken.ThrowIfCancellationRequested();
                _merger.Accept(record.Key, record.Hash, record.Payload, _decoded);
            }
        }

        _merger.Finish();
        var (size, sha) = _newState.Complete();
        var key = FileNaming.StateKey(_context.Register, _entity.Name, _context.Generation);
        await _context.Store.PutFileAsync(key, _newState.Path, sha, "application/octet-stream", cancellationToken).ConfigureAwait(false);
        File.Delete(_newState.Path);
        return new StateFile { Key = key, SizeBytes = size, Sha256 = sha, Records = _newState.Count, Format = _format };
    }

    public void Dispose()
    {
        _sorter?.Dispose();
        _baseState.Dispose();
        _newState.Dispose();
    }
}

/// <summary>
/// The base generation's state of one entity, downloaded once per run: a delta that abandons its changed-rows read
/// reads it again for the full compare.
/// </summary>
internal sealed class DeltaBase : IDisposable
{
    private readonly string? _local;

    private DeltaBase(bool listed, string? local, byte[]? watermark)
    {
        Listed = listed;
        _local = local;
        Watermark = watermark;
    }

    /// <summary>The base generation lists the entity.</summary>
    public bool Listed { get; }

    /// <summary>The base has a state of a format this exporter reads.</summary>
    public bool HasState => _local is not null;

    /// <summary>The source's watermark the base state recorded; null for a plain state or none.</summary>
    public byte[]? Watermark { get; }

    public static async Task<DeltaBase> LoadAsync(GenerationContext context, EntitySpec entity, CancellationToken cancellationToken)
    {
        var baseEntity = context.Base?.Entities.FirstOrDefault(e => e.Name == entity.Name);
        if (baseEntity?.State is not { Format: EntityDelta.StateFormat or EntityDelta.WatermarkedStateFormat } state)
        {
            return new DeltaBase(baseEntity is not null, null, null);
        }

        var local = Path.Combine(context.TempDirectory, $"base-{Guid.NewGuid():N}.state");
        await EntityDelta.DownloadAsync(context, state, local, cancellationToken).ConfigureAwait(false);
        using var reader = DeltaStateReader.Open(local);
        return new DeltaBase(listed: true, local, reader.Watermark);
    }

    public DeltaStateReader OpenReader() => _local is null ? DeltaStateReader.Empty() : DeltaStateReader.Open(_local);

    public void Dispose()
    {
        if (_local is not null)
        {
            File.Delete(_local);
        }
    }
}

/// <summary>A changed-rows read gave a row the base cannot account for; the entity's delta is redone as a full compare.</summary>
internal sealed class ChangedRowsAbandonedException(string message) : Exception(message);

internal static partial class DeltaLog
{
    [LoggerMessage(EventId = 2020, Level = LogLevel.Warning,
        Message = "Entity {Entity}: changeDetection xmin falls back to a full compare: the base state has no watermark (written by a compare-mode run, an older exporter, or a run that could not record one)")]
    public static partial void BaseWithoutWatermark(this ILogger logger, string entity);

    [LoggerMessage(EventId = 2022, Level = LogLevel.Warning,
        Message = "Entity {Entity}: no change-tracking watermark is recorded, so the next delta compares every row: its key has a kind the source cannot sort in the state's order (the external sort keeps row hashes, not digests)")]
    public static partial void WatermarkNeedsSortedKey(this ILogger logger, string entity);

    [LoggerMessage(EventId = 2021, Level = LogLevel.Warning, Message = "Entity {Entity}: changeDetection xmin falls back to a full compare in the same snapshot: {Reason}")]
    public static partial void ChangedRowsAbandoned(this ILogger logger, string entity, string reason);
}
