using System.Buffers;
using System.Security.Cryptography;
using BulkExport.Api;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Sources;

namespace BulkExport.Exporter.Pipeline;

/// <summary>
/// The delta of a plain (non-temporal) entity: every row's key and hash are compared with the base
/// generation's state. Rows arriving in key order (a sorted source) are merged as they come; other
/// sources go through an external sort first. Either way memory does not grow with the row count.
/// </summary>
internal sealed class PlainDelta : IDisposable
{
    private readonly GenerationContext _context;
    private readonly EntitySpec _entity;
    private readonly EntityLayout _layout;
    private readonly DeltaStateReader _baseState;
    private readonly DeltaStateWriter _newState;
    private readonly DeltaMerger _merger;
    private readonly ExternalSorter? _sorter;
    private readonly ArrayBufferWriter<byte> _key = new(64);
    private readonly ArrayBufferWriter<byte> _payload = new(1024);
    private readonly byte[] _hash = new byte[32];

    // One reused digest context: the one-shot SHA256.HashData sets up and frees an OpenSSL context per
    // row (about 1 s of user CPU per million rows in the PostgreSQL bench).
    private readonly IncrementalHash _rowHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    private PlainDelta(GenerationContext context, EntitySpec entity, EntityLayout layout, IDeltaSink sink, DeltaStateReader baseState, bool sorted)
    {
        _context = context;
        _entity = entity;
        _layout = layout;
        _baseState = baseState;
        _newState = new DeltaStateWriter(Path.Combine(context.TempDirectory, $"{entity.Name}-{Guid.NewGuid():N}.state"));
        _merger = new DeltaMerger(baseState, _newState, entity.Name, layout.KeyIndexes.Length, sink);
        _sorter = sorted ? null : new ExternalSorter(context.TempDirectory);
    }

    public static async Task<PlainDelta> OpenAsync(GenerationContext context, EntitySpec entity, EntityLayout layout, IDeltaSink sink, IRowReader reader, CancellationToken cancellationToken)
    {
        var sorted = reader is IRowReaderOrdering { IsSortedByKey: true }
            && layout.KeyIndexes.All(i => KeyEncoder.HasSourceCompatibleOrder(layout.Columns[i].Kind));
        var baseState = await OpenBaseStateAsync(context, entity, cancellationToken).ConfigureAwait(false);
        return new PlainDelta(context, entity, layout, sink, baseState, sorted);
    }

    /// <summary>
    /// The base generation's state, checked against the checksum in its manifest. An entity with no
    /// state in the base (the first generation, or newly configured) is compared with nothing: all inserts.
    /// </summary>
    private static async Task<DeltaStateReader> OpenBaseStateAsync(GenerationContext context, EntitySpec entity, CancellationToken cancellationToken)
    {
        var state = context.Base?.Entities.FirstOrDefault(e => e.Name == entity.Name)?.State;
        if (state is null)
        {
            return DeltaStateReader.Empty();
        }

        var local = Path.Combine(context.TempDirectory, $"{entity.Name}-base-{Guid.NewGuid():N}.state");
        await using (var input = await context.Store.OpenReadAsync(state.Key, cancellationToken).ConfigureAwait(false))
        await using (var output = new FileStream(local, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
        {
            await input.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
        }

        string sha;
        await using (var check = File.OpenRead(local))
        {
            sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(check, cancellationToken).ConfigureAwait(false));
        }

        if (sha != state.Sha256)
        {
            throw new InvalidDataException($"{context.Store.Describe(state.Key)}: checksum {sha} does not match the manifest's {state.Sha256}; the delta base is damaged");
        }

        return DeltaStateReader.Open(local);
    }

    public void Add(object?[] row)
    {
        _key.ResetWrittenCount();
        KeyEncoder.Encode(row, _layout.KeyIndexes, _key);
        _payload.ResetWrittenCount();
        RowCodec.Encode(row, _payload);
        _rowHash.AppendData(_payload.WrittenSpan);
        _rowHash.GetHashAndReset(_hash);
        if (_sorter is null)
        {
            _merger.Accept(_key.WrittenSpan.ToArray(), _hash, () => row);
        }
        else
        {
            _sorter.Add(_key.WrittenSpan, _hash, _payload.WrittenSpan);
        }
    }

    public async Task<StateFile> CompleteAsync(CancellationToken cancellationToken)
    {
        if (_sorter is not null)
        {
            foreach (var record in _sorter.ReadSorted())
            {
                cancellationToken.ThrowIfCancellationRequested();
                var payload = record.Payload;
                _merger.Accept(record.Key, record.Hash, () => RowCodec.Decode(payload));
            }
        }

        _merger.Finish();
        var (size, sha) = _newState.Complete();
        var key = FileNaming.StateKey(_context.Register, _entity.Name, _context.Generation);
        await _context.Store.PutFileAsync(key, _newState.Path, sha, "application/octet-stream", cancellationToken).ConfigureAwait(false);
        File.Delete(_newState.Path);
        return new StateFile { Key = key, SizeBytes = size, Sha256 = sha, Records = _newState.Count };
    }

    public void Dispose()
    {
        _sorter?.Dispose();
        _rowHash.Dispose();
        _baseState.Dispose();
        _newState.Dispose();
    }
}
