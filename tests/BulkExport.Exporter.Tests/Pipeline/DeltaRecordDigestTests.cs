using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Tests.Formats;

namespace BulkExport.Exporter.Tests.Pipeline;

/// <summary>
/// A delta record's digest derived from its row's canonical bytes plus the operation member equals the
/// digest computed over the record's own columns, wherever "operation" sorts among the column names.
/// </summary>
public sealed class DeltaRecordDigestTests
{
    [Theory]
    [InlineData("a", "b")]
    [InlineData("z", "zz")]
    [InlineData("opera", "operation_2")]
    [InlineData("operatio", "p")]
    [InlineData("Æble", "ø")]
    [InlineData("o", "OPERATION")]
    public void SplicedOperationMember_GivesTheDigestOfTheDeltaRecord(string first, string second)
    {
        Column[] columns = [new(first, ColumnKind.Integer), new(second, ColumnKind.Text), .. FormatTestData.AllKinds];
        var deltaColumns = columns.Append(new Column(EntityExport.OperationColumn, ColumnKind.Text, Nullable: false)).ToList();
        using var state = new RowDigest(columns);
        using var delta = new RowDigest(deltaColumns);
        var batch = new RowBatch(columns, 4);
        batch.AddBoxed([1L, "x", .. FormatTestData.SampleRow()]);
        batch.AddBoxed([null, null, .. FormatTestData.NullRow()]);
        var record = new OperationRowView(deltaColumns);
        Span<byte> rowDigest = stackalloc byte[RowDigest.Length];
        Span<byte> spliced = stackalloc byte[RowDigest.Length];
        Span<byte> computed = stackalloc byte[RowDigest.Length];
        var index = state.InsertionIndex(EntityExport.OperationColumn);

        for (var r = 0; r < batch.Count; r++)
        {
            foreach (var operation in new[] { DeltaOperation.Insert, DeltaOperation.Update })
            {
                var row = batch.View(r);
                state.Compute(row, rowDigest);
                var member = System.Text.Encoding.UTF8.GetBytes($"\"operation\":\"{OutputWriters.OperationName(operation)}\"");
                state.ComputeWithMember(index, member, spliced);
                delta.Compute(record.Reset(row, operation), computed);
                Assert.True(computed.SequenceEqual(spliced), $"row {r}, {operation}: the spliced digest differs");
                Assert.False(rowDigest.SequenceEqual(spliced));
            }
        }
    }
}
