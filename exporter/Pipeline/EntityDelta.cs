using System.Buffers;
using System.Security.Cryptography;
using BulkExport.Api;
using BulkExport.Exporter.Rows;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Sorting;

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
    private FingerprintSum _fingerprint;

    private EntityDelta(GenerationContext context, EntitySpec entity, EntityLayout layout, IDeltaSink sink, DeltaStateReader baseState, bool sorted, bool rebase)
    {
        _context = context;
        _entity = entity;
        _layout = layout;
        _baseState = baseState;
        Rebase = rebase;
        _newState = new DeltaStateWriter(Path.Combine(context.TempDirectory, $"{entity.Name}-{Guid.NewGuid():N}.state"));
        _merger = new DeltaMerger(baseState, _newState, entity.Name, [.. layout.IdentityIndexes.Select(i => layout.Columns[i].Name)], sink);
        _sorter = sorted ? null : new ExternalSorter(context.TempDirectory);
        _decoded = new ObjectRowView(layout.Columns);
    }

    /// <summary>The base had no usable state for this entity, so the delta holds the whole state as inserts.</summary>
    public bool Rebase { get; }

    /// <summary>
    /// The base generation's state of <paramref name="entity"/>, copied and checked against its manifest's
    /// checksum; null when the base has no state of this format for it (<see cref="Open"/> then decides
    /// between a first delta and a re-base). It needs nothing the source's reader decides, so the caller
    /// runs it while the reader opens.
    /// </summary>
    public static async Task<DeltaStateReader?> FetchBaseStateAsync(GenerationContext context, EntitySpec entity, CancellationToken cancellationToken)
    {
        var state = context.Base?.Entities.FirstOrDefault(e => e.Name == entity.Name)?.State;
        return state is null || state.Format != StateFormat ? null : await OpenBaseStateAsync(context, state, cancellationToken).ConfigureAwait(false);
    }

    /// <param name="context">The generation.</param>
    /// <param name="entity">The entity.</param>
    /// <param name="layout">Its columns.</param>
    /// <param name="sink">Where delta records go.</param>
    /// <param name="sortedSource">Whether the reader gives rows in identity order.</param>
    /// <param name="baseState">From <see cref="FetchBaseStateAsync"/>; the delta owns it from here on.</param>
    public static EntityDelta Open(GenerationContext context, EntitySpec entity, EntityLayout layout, IDeltaSink sink, bool sortedSource, DeltaStateReader? baseState)
    {
        var sorted = sortedSource && layout.IdentityIndexes.All(i => KeyEncoder.HasSourceCompatibleOrder(layout.Columns[i].Kind));
        if (baseState is null)
        {
            // No base (first generation), an entity new to the register: all inserts, which is exact.
            // A base that lists the entity without a state of this format (written by an exporter
            // before state-compared temporal deltas, or an older state format): the consumer's copy
            // cannot be brought up to date by changes we can name, so the delta is a re-base.
            var listed = context.Base?.Entities.Any(e => e.Name == entity.Name) == true;
            return new EntityDelta(context, entity, layout, sink, DeltaStateReader.Empty(), sorted, rebase: listed);
        }

        try
        {
            return new EntityDelta(context, entity, layout, sink, baseState, sorted, rebase: false);
        }
        catch
        {
            baseState.Dispose();
            throw;
        }
    }

    /// <summary>The base generation's state, checked against the checksum in its manifest.</summary>
    private static async Task<DeltaStateReader> OpenBaseStateAsync(GenerationContext context, StateFile state, CancellationToken cancellationToken)
    {
        var local = Path.Combine(context.TempDirectory, $"base-{Guid.NewGuid():N}.state");
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

        return DeltaStateReader.Open(local);
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
        return new StateFile { Key = key, SizeBytes = size, Sha256 = sha, Records = _newState.Count, Format = StateFormat };
    }

    public void Dispose()
    {
        _sorter?.Dispose();
        _baseState.Dispose();
        _newState.Dispose();
    }
}
