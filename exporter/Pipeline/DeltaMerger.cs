using BulkExport.Publishing.Sorting;
namespace BulkExport.Exporter.Pipeline;

/// <summary>
/// Merge-joins the current rows of an entity, arriving in identity order, with the base
/// generation's state: keys only in the current rows are inserts, keys in both with another hash
/// are updates, keys only in the base are deletes. Writes the new state as it goes, so memory holds
/// one row of each side.
/// </summary>
internal sealed class DeltaMerger(DeltaStateReader baseState, DeltaStateWriter newState, string entity, IReadOnlyList<string> identityColumns, IDeltaSink sink)
{
    private byte[]? _previousKey;
    private bool _started;

    public long Inserts { get; private set; }

    public long Updates { get; private set; }

    public long Deletes { get; private set; }

    /// <param name="row">Produces the row when it is needed (it may have to be decoded).</param>
    public void Accept(byte[] key, ReadOnlySpan<byte> hash, Func<object?[]> row)
    {
        if (!_started)
        {
            baseState.MoveNext();
            _started = true;
        }

        if (_previousKey is not null)
        {
            var order = key.AsSpan().SequenceCompareTo(_previousKey);
            if (order == 0)
            {
                throw new DuplicateKeyException(entity, identityColumns, KeyEncoder.Decode(key, identityColumns.Count));
            }

            if (order < 0)
            {
                throw new InvalidOperationException($"entity {entity}: rows did not arrive in key order");
            }
        }

        _previousKey = key;
        while (baseState.HasCurrent && baseState.Key.AsSpan().SequenceCompareTo(key) < 0)
        {
            EmitDelete();
        }

        if (baseState.HasCurrent && baseState.Key.AsSpan().SequenceEqual(key))
        {
            if (!baseState.Hash.AsSpan().SequenceEqual(hash[..ExternalSorter.HashLength]))
            {
                sink.Change(row(), DeltaOperation.Update);
                Updates++;
            }

            baseState.MoveNext();
        }
        else
        {
            sink.Change(row(), DeltaOperation.Insert);
            Inserts++;
        }

        newState.Write(key, hash);
    }

    public void Finish()
    {
        if (!_started)
        {
            baseState.MoveNext();
            _started = true;
        }

        while (baseState.HasCurrent)
        {
            EmitDelete();
        }
    }

    private void EmitDelete()
    {
        sink.Delete(KeyEncoder.Decode(baseState.Key, identityColumns.Count));
        Deletes++;
        baseState.MoveNext();
    }
}

internal enum DeltaOperation
{
    Insert,
    Update,
    Delete,
}

internal interface IDeltaSink
{
    void Change(object?[] row, DeltaOperation operation);

    /// <summary>A tombstone: only the identity values are known.</summary>
    void Delete(object?[] identityValues);
}

internal sealed class DuplicateKeyException(string entity, IReadOnlyList<string> columns, object?[] identity)
    : Exception($"entity {entity}: {(columns.Count > 1 ? "identity" : "key")} ({string.Join(", ", identity.Select((v, i) => $"{columns[i]}={KeyEncoder.Describe(v)}"))}) appears more than once; {(columns.Count > 1 ? "key + registration start + effect start" : "the key in spec.entities[].key")} must identify one row (it is the published primary key); nothing was published");
