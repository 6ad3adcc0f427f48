using BulkExport.Exporter.Sources.Postgres;

namespace BulkExport.Exporter.Tests.Sources.Postgres;

/// <summary>When a base's watermark lets a delta read changed rows only, and why not otherwise.</summary>
public sealed class PostgresWatermarkTests
{
    private static PostgresChangeTracking.Watermark Mark(long xmin, long xmax, string timeline = "1") =>
        new(xmin, xmax, [new("system_identifier", "7715286673391635475"), new("timeline_id", timeline), new("columns", "1 id 20 bigint 0 ")]);

    [Fact]
    public void A_later_snapshot_of_the_same_source_reads_changed_rows()
    {
        Assert.Null(Mark(2000, 2010).Compare(Mark(1000, 1005)));
        Assert.Null(Mark(1000, 1005).Compare(Mark(1000, 1005)));
    }

    [Fact]
    public void A_watermark_round_trips_through_its_bytes_and_garbage_is_not_one()
    {
        var mark = Mark(5L << 32, (5L << 32) + 7);
        var back = PostgresChangeTracking.Watermark.Parse(mark.ToBytes());
        Assert.NotNull(back);
        Assert.Equal((mark.Xmin, mark.Xmax), (back.Xmin, back.Xmax));
        Assert.Equal(mark.Signature, back.Signature);
        Assert.Null(PostgresChangeTracking.Watermark.Parse("{\"version\":2}"u8.ToArray()));
        Assert.Null(PostgresChangeTracking.Watermark.Parse("not json"u8.ToArray()));
    }

    [Fact]
    public void A_different_signature_part_is_named()
    {
        var reason = Mark(2000, 2010, timeline: "2").Compare(Mark(1000, 1005));
        Assert.Equal("the timeline_id changed since the base (was '1', now '2')", reason);
    }

    [Fact]
    public void A_snapshot_older_than_the_base_compares_every_row()
    {
        Assert.StartsWith("this snapshot (xmin 900, xmax 1010) is older than the base's", Mark(900, 1010).Compare(Mark(1000, 1005)));
        Assert.StartsWith("this snapshot (xmin 1000, xmax 1004) is older than the base's", Mark(1000, 1004).Compare(Mark(1000, 1005)));
    }

    [Fact]
    public void A_horizon_2_to_the_31_xids_back_compares_every_row_and_one_less_does_not()
    {
        Assert.Null(Mark(2000, 1000 + (1L << 31) - 1).Compare(Mark(1000, 1005)));
        Assert.Contains("2^31 or more xids behind", Mark(2000, 1000 + (1L << 31)).Compare(Mark(1000, 1005)), StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => PostgresChangeTracking.ChangedCondition(1000, 1000 + (1L << 31)));
    }
}
