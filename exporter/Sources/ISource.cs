using BulkExport.Api;

namespace BulkExport.Exporter.Sources;

/// <summary>A place entities are read from. One <see cref="ISourceSnapshot"/> per generation.</summary>
internal interface ISource
{
    /// <summary>Opens one consistent snapshot of every entity. Its point in time stamps the generation.</summary>
    ValueTask<ISourceSnapshot> OpenSnapshotAsync(CancellationToken cancellationToken);
}

internal interface ISourceSnapshot : IAsyncDisposable
{
    /// <summary>The instant the snapshot shows (for PostgreSQL the server's transaction time), UTC.</summary>
    DateTimeOffset PointInTime { get; }

    /// <summary>Whether readers of this snapshot may run in parallel (PostgreSQL exported snapshots).</summary>
    int MaxParallelReaders { get; }

    ValueTask<IRowReader> ReadAsync(EntitySpec entity, ReadRequest request, CancellationToken cancellationToken);
}

/// <param name="SortByKey">Rows should arrive ordered by the binary order (<see cref="Pipeline.KeyEncoder"/>) of the entity's identity (<see cref="Pipeline.EntityIdentity"/>: the key, plus registration and effect start for temporal entities); sources that cannot sort leave it to the pipeline and say so in <see cref="IRowReaderOrdering"/>.</param>
internal sealed record ReadRequest(bool SortByKey)
{
    /// <summary>
    /// The entity asks for change tracking (<c>changeDetection: xmin</c>): a reader that can, implements
    /// <see cref="IChangeTrackingReader"/> and gives the watermark the next generation's state records.
    /// </summary>
    public bool TrackChanges { get; init; }

    /// <summary>
    /// The base generation's watermark (as a reader of this source gave it): read every key, but the other columns
    /// only of rows written since. The source falls back to a full read whenever it cannot prove that exact.
    /// </summary>
    public byte[]? ChangedSince { get; init; }
}

/// <summary>A reader that tracks changes (<see cref="ReadRequest.TrackChanges"/>).</summary>
internal interface IChangeTrackingReader
{
    /// <summary>What the next delta passes as <see cref="ReadRequest.ChangedSince"/>; null when this read cannot give one.</summary>
    byte[]? Watermark { get; }

    /// <summary>
    /// The read honours <see cref="ReadRequest.ChangedSince"/>: only rows <see cref="IsChanged"/> says were written
    /// since carry values beyond their key columns. False: every row is complete (a full read).
    /// </summary>
    bool ChangedRowsOnly { get; }

    /// <summary>Whether row <paramref name="row"/> of the batch the last fill gave was written since the base (<see cref="ChangedRowsOnly"/>).</summary>
    bool IsChanged(int row);
}

/// <summary>Implemented by readers that deliver rows in key order, so the pipeline can skip its external sort.</summary>
internal interface IRowReaderOrdering
{
    bool IsSortedByKey { get; }
}

/// <summary>A failure of the source that names the entity; <see cref="Transient"/> ones are worth retrying (exit 75).</summary>
internal sealed class SourceException(string message, bool transient, Exception? inner = null) : Exception(message, inner)
{
    public bool Transient { get; } = transient;
}
