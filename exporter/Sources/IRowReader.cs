using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources;

/// <summary>Reads rows of one entity. <see cref="Current"/> is a fresh array per row; callers may keep it.</summary>
internal interface IRowReader : IAsyncDisposable
{
    IReadOnlyList<Column> Columns { get; }

    ValueTask<bool> ReadAsync(CancellationToken cancellationToken);

    object?[] Current { get; }
}

/// <summary>
/// A reader that fills typed batches itself (no boxed row per value): PostgreSQL's binary COPY decoder.
/// The pipeline prefers it; other readers' rows are copied into the batch.
/// </summary>
internal interface IRowBatchReader
{
    /// <summary>Adds rows to <paramref name="batch"/> until it is full or the rows end; false when no row was added (the end).</summary>
    ValueTask<bool> ReadBatchAsync(RowBatch batch, CancellationToken cancellationToken);
}

internal static class RowReaderBatches
{
    /// <summary>Fills <paramref name="batch"/> from any reader; false when the rows had ended and none was added.</summary>
    public static async ValueTask<bool> FillAsync(this IRowReader reader, RowBatch batch, CancellationToken cancellationToken)
    {
        if (reader is IRowBatchReader direct)
        {
            return await direct.ReadBatchAsync(batch, cancellationToken).ConfigureAwait(false);
        }

        var added = false;
        while (!batch.IsFull && await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            batch.AddBoxed(reader.Current);
            added = true;
        }

        return added;
    }
}
