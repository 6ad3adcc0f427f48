using BulkExport.Api;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Support;

/// <summary>
/// A source whose tables the test edits between runs. A snapshot copies the rows, so edits made
/// during a run are not seen by it, as with a database snapshot.
/// </summary>
internal sealed class InMemorySource(TimeProvider time) : ISource
{
    private readonly Dictionary<string, (IReadOnlyList<Column> Columns, List<object?[]> Rows)> _tables = new(StringComparer.Ordinal);

    public bool SortedByKey { get; set; }

    /// <summary>When set, reading fails with this exception after that many rows (a source that dies mid-read).</summary>
    public (int AfterRows, Exception Error)? FailWhileReading { get; set; }

    public int OpenedSnapshots { get; private set; }

    public void Set(string entity, IReadOnlyList<Column> columns, IEnumerable<object?[]> rows) => _tables[entity] = (columns, rows.ToList());

    public List<object?[]> Rows(string entity) => _tables[entity].Rows;

    public ValueTask<ISourceSnapshot> OpenSnapshotAsync(CancellationToken cancellationToken)
    {
        OpenedSnapshots++;
        var copy = _tables.ToDictionary(kv => kv.Key, kv => (kv.Value.Columns, kv.Value.Rows.Select(r => (object?[])r.Clone()).ToList()));
        return ValueTask.FromResult<ISourceSnapshot>(new Snapshot(copy, time.GetUtcNow(), SortedByKey, FailWhileReading));
    }

    private sealed class Snapshot(Dictionary<string, (IReadOnlyList<Column> Columns, List<object?[]> Rows)> tables, DateTimeOffset pointInTime, bool sorted, (int AfterRows, Exception Error)? fail) : ISourceSnapshot
    {
        public DateTimeOffset PointInTime => pointInTime;

        public int MaxParallelReaders => 2;

        public ValueTask<IRowReader> ReadAsync(EntitySpec entity, ReadRequest request, CancellationToken cancellationToken)
        {
            if (!tables.TryGetValue(entity.Name, out var table))
            {
                throw new SourceException($"entity {entity.Name}: no such table", transient: false);
            }

            IEnumerable<object?[]> rows = table.Rows;
            if (sorted && request.SortByKey)
            {
                var keyIndexes = BulkExport.Exporter.Pipeline.EntityIdentity.Columns(entity).Select(k => table.Columns.ToList().FindIndex(c => c.Name == k)).ToArray();
                rows = rows.OrderBy(r => EncodeKey(r, keyIndexes), Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b)));
            }

            return ValueTask.FromResult<IRowReader>(new Reader(table.Columns, rows.ToList(), sorted && request.SortByKey, fail));
        }

        private static byte[] EncodeKey(object?[] row, int[] keyIndexes)
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            BulkExport.Exporter.Pipeline.KeyEncoder.Encode(row, keyIndexes, buffer);
            return buffer.WrittenSpan.ToArray();
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class Reader(IReadOnlyList<Column> columns, List<object?[]> rows, bool sorted, (int AfterRows, Exception Error)? fail) : IRowReader, IRowReaderOrdering
    {
        private int _index = -1;

        public IReadOnlyList<Column> Columns => columns;

        public object?[] Current => rows[_index];

        public bool IsSortedByKey => sorted;

        public ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
        {
            if (fail is { } f && _index + 1 == f.AfterRows)
            {
                throw f.Error;
            }

            return ValueTask.FromResult(++_index < rows.Count);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
