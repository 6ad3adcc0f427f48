using BulkExport.Exporter.Rows;
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
    // The previous row's key, copied: the caller's span is reused for the next row.
    private byte[] _previousKey = new byte[64];
    private int _previousLength = -1;
    private bool _started;

    public long Inserts { get; private set; }

    public long Updates { get; private set; }

    public long Deletes { get; private set; }

    /// <param name="key">The row's identity (<see cref="KeyEncoder"/>).</param>
    /// <param name="hash">Its digest (the first <see cref="ExternalSorter.HashLength"/> bytes are the row hash).</param>
    /// <param name="row">The row, passed on when it is inserted or updated.</param>
    public void Accept(ReadOnlySpan<byte> key, ReadOnlySpan<byte> hash, IRowView row) => Accept(key, hash, row, default, null);

    /// <param name="key">The row's identity (<see cref="KeyEncoder"/>).</param>
    /// <param name="hash">Its digest.</param>
    /// <param name="encoded">The row as <see cref="RowCodec"/> encoded it, decoded (into <paramref name="decoded"/>) only when it is inserted or updated.</param>
    /// <param name="decoded">The reused view decoded rows are shown through.</param>
    public void Accept(ReadOnlySpan<byte> key, ReadOnlySpan<byte> hash, ReadOnlySpan<byte> encoded, ObjectRowView decoded) => Accept(key, hash, null, encoded, decoded);

    /// <summary>
    /// A row the source vouches is unchanged since the base's snapshot (<c>changeDetection: xmin</c>): it keeps the
    /// base's digest, which is copied to <paramref name="digest"/> and into the new state, and gives no change.
    /// </summary>
    /// <returns>False when the base has no such key: the source's claim cannot be squared with the base, and the
    /// caller must abandon this merge and compare every row instead.</returns>
    public bool TryKeepUnchanged(ReadOnlySpan<byte> key, Span<byte> digest)
    {
        if (!Seek(key))
        {
            return false;
        }

        baseState.Digest.CopyTo(digest);
        baseState.MoveNext();
        newState.Write(key, digest);
        return true;
    }

    private void Accept(ReadOnlySpan<byte> key, ReadOnlySpan<byte> hash, IRowView? row, ReadOnlySpan<byte> encoded, ObjectRowView? decoded)
    {
        if (Seek(key))
        {
            if (!baseState.Hash.SequenceEqual(hash[..ExternalSorter.HashLength]))
            {
                sink.Change(row ?? decoded!.Reset(RowCodec.Decode(encoded)), DeltaOperation.Update);
                Updates++;
            }

            baseState.MoveNext();
        }
        else
        {
            sink.Change(row ?? decoded!.Reset(RowCodec.Decode(encoded)), DeltaOperation.Insert);
            Inserts++;
        }

        newState.Write(key, hash);
    }

    /// <summary>Checks the key order, emits the base's keys before <paramref name="key"/> as deletes; true when the base holds the key (then current).</summary>
    private bool Seek(ReadOnlySpan<byte> key)
    {
        if (!_started)
        {
            baseState.MoveNext();
            _started = true;
        }

        if (_previousLength >= 0)
        {
            var order = key.SequenceCompareTo(_previousKey.AsSpan(0, _previousLength));
            if (order == 0)
            {
                throw new DuplicateKeyException(entity, identityColumns, KeyEncoder.Decode(key, identityColumns.Count));
            }

            if (order < 0)
            {
                throw new InvalidOperationException($"entity {entity}: rows did not arrive in key order");
            }
        }

        if (_previousKey.Length < key.Length)
        {
            _previousKey = new byte[Math.Max(key.Length, _previousKey.Length * 2)];
        }

        key.CopyTo(_previousKey);
        _previousLength = key.Length;
        while (baseState.HasCurrent && baseState.Key.SequenceCompareTo(key) < 0)
        {
            EmitDelete();
        }

        return baseState.HasCurrent && baseState.Key.SequenceEqual(key);
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
    /// <summary>An insert or update; <paramref name="row"/> is borrowed for the call.</summary>
    void Change(IRowView row, DeltaOperation operation);

    /// <summary>A tombstone: only the identity values are known.</summary>
    void Delete(object?[] identityValues);
}

internal sealed class DuplicateKeyException(string entity, IReadOnlyList<string> columns, object?[] identity)
    : Exception($"entity {entity}: {(columns.Count > 1 ? "identity" : "key")} ({string.Join(", ", identity.Select((v, i) => $"{columns[i]}={KeyEncoder.Describe(v)}"))}) appears more than once; {(columns.Count > 1 ? "key + registration start + effect start" : "the key in spec.entities[].key")} must identify one row (it is the published primary key); nothing was published");
