using BulkExport.Api;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;

namespace BulkExport.Exporter.Tests.Support;

/// <summary>An entity read to the end as boxed rows: what a test compares a source's batches, formats or files with.</summary>
internal static class SourceReads
{
    private static readonly ReadRequest Unsorted = new(SortByKey: false);

    /// <summary>The entity from a fresh snapshot of <paramref name="source"/>; <c>SortedByKey</c> is what the reader promised.</summary>
    public static async Task<(IReadOnlyList<Column> Columns, List<object?[]> Rows, bool SortedByKey)> ReadAllAsync(ISource source, EntitySpec entity, ReadRequest? request = null)
    {
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        return await ReadAllAsync(snapshot, entity, request);
    }

    public static async Task<(IReadOnlyList<Column> Columns, List<object?[]> Rows, bool SortedByKey)> ReadAllAsync(ISourceSnapshot snapshot, EntitySpec entity, ReadRequest? request = null)
    {
        await using var reader = await snapshot.ReadAsync(entity, request ?? Unsorted, CancellationToken.None);
        var rows = new List<object?[]>();
        while (await reader.ReadAsync(CancellationToken.None))
        {
            rows.Add(reader.Current);
        }

        return (reader.Columns, rows, reader is IRowReaderOrdering { IsSortedByKey: true });
    }

    /// <summary>The entity read through batches of <paramref name="rowsPerBatch"/> rows and a small arena (so it grows), each row boxed from its view; the reader must fill batches itself.</summary>
    public static async Task<List<object?[]>> ReadBatchedAsync(ISource source, EntitySpec entity, ReadRequest? request = null, int rowsPerBatch = 2, int arenaBytes = 16)
    {
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, request ?? Unsorted, CancellationToken.None);
        Assert.IsAssignableFrom<IRowBatchReader>(reader);
        var batch = new RowBatch(reader.Columns, rowsPerBatch, arenaBytes);
        var rows = new List<object?[]>();
        while (await reader.FillAsync(batch, CancellationToken.None))
        {
            for (var r = 0; r < batch.Count; r++)
            {
                var view = batch.View(r);
                rows.Add([.. Enumerable.Range(0, reader.Columns.Count).Select(view.GetValue)]);
            }

            batch.Clear();
        }

        return rows;
    }
}
