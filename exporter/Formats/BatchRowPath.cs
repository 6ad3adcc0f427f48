using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// Whether an encoder's batch path (a row written straight from a <see cref="RowBatch"/>'s arrays, as
/// CSV and JSON do) can take rows of a batch: its columns are the first of the encoder's (all, or all
/// but a delta's operation column), of the same kinds, none of them geometry or bytes, arrays only of
/// integers. Batches are pooled and reused, so the answer is kept for the last batch asked about.
/// </summary>
internal sealed class BatchRowPath(IReadOnlyList<Column> columns)
{
    private RowBatch? _checked;
    private bool _accepted;

    /// <summary>The encoder's column kinds, read per value on the batch path without an interface call.</summary>
    public ColumnKind[] Kinds { get; } = [.. columns.Select(c => c.Kind)];

    public bool Accepts(RowBatch batch)
    {
        if (ReferenceEquals(batch, _checked))
        {
            return _accepted;
        }

        var ok = batch.Columns.Count <= columns.Count;
        for (var i = 0; ok && i < batch.Columns.Count; i++)
        {
            var kind = Kinds[i];
            ok = batch.Columns[i].Kind == kind
                && kind is not (ColumnKind.Geometry or ColumnKind.Bytes)
                && (kind != ColumnKind.Array || (columns[i].ElementKind == ColumnKind.Integer && batch.Columns[i].ElementKind == ColumnKind.Integer));
        }

        _checked = batch;
        _accepted = ok;
        return ok;
    }
}
