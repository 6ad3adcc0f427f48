using System.Globalization;
using System.Text;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Tests.Formats;

namespace BulkExport.Exporter.Tests.Rows;

/// <summary>The typed row view formats read, at the boundaries of every column kind.</summary>
public sealed class ObjectRowViewTests
{
    private static readonly Column[] Columns = FormatTestData.AllKinds;

    [Fact]
    public void NullInEveryKind_IsNull_AndEveryGetterRefusesNamingTheColumn()
    {
        var view = new ObjectRowView(Columns).Reset(FormatTestData.NullRow());

        for (var i = 0; i < Columns.Length; i++)
        {
            Assert.True(view.IsNull(i));
            Assert.Null(view.GetValue(i));
            var column = i;
            var error = Assert.Throws<InvalidOperationException>(() => Read(view, column));
            Assert.Contains($"'{Columns[i].Name}'", error.Message, StringComparison.Ordinal);
            Assert.Contains("null", error.Message, StringComparison.Ordinal);
        }

        // And every streamed format writes the all-null row without asking the view for a value (the
        // file formats' own tests write nulls in every kind through GDAL and DuckDB).
        foreach (var format in RecordFormats.All.OfType<IStreamedFormat>().Select(f => f is IEntityConfiguredFormat c ? c.For(new BulkExport.Exporter.Formats.Geo.EntityGeometry("T", "geom", 4326, []), default, "ZSTD") : f))
        {
            Assert.NotEmpty(FormatTestData.Encode(format, Columns, FormatTestData.NullRow()));
        }
    }

    [Fact]
    public void SampleRow_EveryTypedGetter_ReturnsTheValueOfItsKind()
    {
        var row = FormatTestData.SampleRow();
        var view = new ObjectRowView(Columns).Reset(row);

        Assert.Equal((string)row[0]!, view.GetString(0));
        Assert.Equal(Encoding.UTF8.GetBytes((string)row[0]!), view.GetUtf8(0).ToArray());
        Assert.Equal((long)row[1]!, view.GetInt64(1));
        Assert.Equal(((DecimalText)row[2]!).Text, Encoding.UTF8.GetString(view.GetUtf8(2)));
        Assert.Equal((double)row[3]!, view.GetDouble(3));
        Assert.Equal((bool)row[4]!, view.GetBoolean(4));
        Assert.Equal((DateOnly)row[5]!, view.GetDate(5));
        Assert.Equal((DateTime)row[6]!, view.GetTimestamp(6));
        Assert.Equal((DateTimeOffset)row[7]!, view.GetTimestampTz(7));
        Assert.Equal(FormatTestData.SampleGuid, view.GetGuid(8));
        Assert.Equal(((RawJson)row[9]!).Json, view.GetString(9));
        Assert.Equal((byte[])row[10]!, view.GetBytes(10).ToArray());
        Assert.Equal(4326, view.GetGeometry(11).Srid);
        Assert.Equal(["a b", null, "", "NULL", "q\"uote", "back\\slash", "{brace}", "plain"], view.GetArray(12));
        Assert.Equal([1L, 2L, null], view.GetArray(13));
    }

    [Fact]
    public void ExtremeNumerics_PassThroughTheViewExactly()
    {
        Column[] columns = [new("i", ColumnKind.Integer), new("f", ColumnKind.Float), new("d", ColumnKind.Decimal)];
        var rows = new object?[][]
        {
            [long.MinValue, double.MinValue, new DecimalText("-" + new string('9', 60) + "." + new string('9', 30))],
            [long.MaxValue, double.MaxValue, new DecimalText("0.000000000000000000000000000001")],
            [0L, double.Epsilon, new DecimalText("0")],
        };

        var view = new ObjectRowView(columns);
        Assert.Equal(long.MinValue, view.Reset(rows[0]).GetInt64(0));
        Assert.Equal(double.MaxValue, view.Reset(rows[1]).GetDouble(1));
        var csv = TestCsv.Parse(FormatTestData.EncodeText(RecordFormats.Csv, columns, rows));
        for (var r = 0; r < rows.Length; r++)
        {
            Assert.Equal(((long)rows[r][0]!).ToString(CultureInfo.InvariantCulture), csv[r + 1][0]);
            Assert.Equal((double)rows[r][1]!, double.Parse(csv[r + 1][1]!, CultureInfo.InvariantCulture));
            Assert.Equal(((DecimalText)rows[r][2]!).Text, csv[r + 1][2]);
        }
    }

    [Fact]
    public void LongNonAsciiText_Utf8SpanIsStableWithinARow_AndFollowsTheNextRow()
    {
        Column[] columns = [new("a", ColumnKind.Text), new("b", ColumnKind.Text)];
        var long1 = string.Concat(Enumerable.Repeat("Ærø 😀 ñ, \"q\"\r\n", 80_000));
        var view = new ObjectRowView(columns).Reset([long1, "å"]);

        var first = view.GetUtf8(0);
        Assert.Equal(Encoding.UTF8.GetBytes(long1), first.ToArray());
        Assert.Equal("å"u8.ToArray(), view.GetUtf8(1).ToArray());
        // Asking again in the same row hands out the same bytes, not a fresh encoding.
        Assert.True(first == view.GetUtf8(0));

        view.Reset(["kort", null]);
        Assert.Equal("kort"u8.ToArray(), view.GetUtf8(0).ToArray());
        Assert.True(view.IsNull(1));

        var csv = TestCsv.Parse(FormatTestData.EncodeText(RecordFormats.Csv, columns, [long1, "å"]));
        Assert.Equal(long1, csv[1][0]);
    }

    [Fact]
    public void WrongKind_GetterRefusesNamingColumnAndKind()
    {
        var view = new ObjectRowView(Columns).Reset(FormatTestData.SampleRow());

        var error = Assert.Throws<InvalidOperationException>(() => view.GetInt64(0));
        Assert.Contains("'text' (Text)", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => view.Reset([1L]));
    }

    private static object Read(IRowView view, int column) => view.Columns[column].Kind switch
    {
        ColumnKind.Text or ColumnKind.Decimal or ColumnKind.Json => view.GetString(column),
        ColumnKind.Integer => view.GetInt64(column),
        ColumnKind.Float => view.GetDouble(column),
        ColumnKind.Boolean => view.GetBoolean(column),
        ColumnKind.Date => view.GetDate(column),
        ColumnKind.Timestamp => view.GetTimestamp(column),
        ColumnKind.TimestampTz => view.GetTimestampTz(column),
        ColumnKind.Uuid => view.GetGuid(column),
        ColumnKind.Bytes => view.GetBytes(column).ToArray(),
        ColumnKind.Geometry => view.GetGeometry(column),
        _ => view.GetArray(column),
    };
}
