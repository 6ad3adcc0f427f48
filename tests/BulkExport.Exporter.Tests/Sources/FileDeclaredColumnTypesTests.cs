using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;
using BulkExport.Exporter.Tests.Support;

namespace BulkExport.Exporter.Tests.Sources;

/// <summary>A CSV file whose entity declares column types (entities[].columns): typed values, in batches and row by row alike, and errors that name the field.</summary>
public sealed class FileDeclaredColumnTypesTests : IDisposable
{
    private static readonly ReadRequest Request = new(SortByKey: false);

    private readonly string _dir = Directory.CreateTempSubdirectory("file-types-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static EntitySpec Entity() => new()
    {
        Name = "T",
        Key = ["id"],
        Columns = new()
        {
            ["id"] = "integer", ["amount"] = "numeric(7,2)", ["big"] = "numeric", ["day"] = "date", ["active"] = "boolean",
            ["score"] = "float", ["uid"] = "uuid", ["at"] = "timestamptz",
        },
    };

    private async Task<(IReadOnlyList<Column> Columns, List<object?[]> Rows, List<object?[]> Batched, bool Sorted)> ReadAsync(string csv, EntitySpec? entity = null)
    {
        entity ??= Entity();
        await File.WriteAllTextAsync(Path.Combine(_dir, "T.csv"), csv, new UTF8Encoding(false));
        var source = new FilesSource(new FilesSourceSpec { Path = _dir }, [entity], TimeProvider.System);
        var (columns, rows, sorted) = await SourceReads.ReadAllAsync(source, entity, Request);

        var batched = await SourceReads.ReadBatchedAsync(source, entity, Request);

        return (columns, rows, batched, sorted);
    }

    [Fact]
    public async Task DeclaredColumns_AreTyped_WithTheSameValuesInBatchesAndRowByRow_AndUndeclaredOnesStayText()
    {
        var (columns, rows, batched, sorted) = await ReadAsync(
            "id,name,amount,big,day,active,score,uid,at\n"
            + "9,a,12345.67,-0012345678901234567890.50,2024-02-29,true,1.5,0b1c2d3e-0000-4000-8000-000000000001,2024-01-01T01:00:00+01:00\n"
            + "10,,-0.5,1.5e3,0001-01-01,F,-2E-3,,\n"
            + "11,\"\",,+7,9999-12-31,t,1e308,,\n");

        Assert.Equal(
            [ColumnKind.Integer, ColumnKind.Text, ColumnKind.Decimal, ColumnKind.Decimal, ColumnKind.Date, ColumnKind.Boolean, ColumnKind.Float, ColumnKind.Uuid, ColumnKind.TimestampTz],
            columns.Select(c => c.Kind));
        Assert.Equal("numeric(7,2)", columns[2].SqlType);
        Assert.False(columns[0].Nullable);
        object?[][] expected =
        [
            [9L, "a", new DecimalText("12345.67"), new DecimalText("-12345678901234567890.50"), new DateOnly(2024, 2, 29), true, 1.5, Guid.Parse("0b1c2d3e-0000-4000-8000-000000000001"), new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero)],
            [10L, null, new DecimalText("-0.5"), new DecimalText("1500"), new DateOnly(1, 1, 1), false, -0.002, null, null],
            [11L, "", null, new DecimalText("7"), new DateOnly(9999, 12, 31), true, 1e308, null, null],
        ];
        Assert.Equal(expected, rows);
        Assert.Equal(expected, batched);
        // Integer keys order numerically (9 before 10), as the delta compares them: no external sort.
        Assert.True(sorted);
    }

    [Theory]
    [InlineData("x,n,1.00,1,2024-01-01,true,1,,", "column 'id': 'x' is not an integer (64-bit)")]
    [InlineData("1,x,123456.00,1,2024-01-01,true,1,,", "column 'amount': '123456.00' is not a decimal number that fits numeric(7,2)")]
    [InlineData("1,x,1.005,1,2024-01-01,true,1,,", "column 'amount': '1.005' is not a decimal number that fits numeric(7,2)")]
    [InlineData("1,x,1,1.,2024-01-01,true,1,,", "column 'big': '1.' is not a decimal number")]
    [InlineData("1,x,1,1,2023-02-29,true,1,,", "column 'day': '2023-02-29' is not a date (yyyy-MM-dd)")]
    [InlineData("1,x,1,1,2024-01-01,yes,1,,", "column 'active': 'yes' is not a boolean")]
    [InlineData("1,x,1,1,2024-01-01,true, 1,,", "column 'score': ' 1' is not a floating-point number")]
    [InlineData("1,x,1,1,2024-01-01,true,1,nope,", "column 'uid': 'nope' is not a UUID")]
    public async Task AValueThatIsNotItsDeclaredType_FailsTheRun_NamingFileLineAndColumn(string record, string message)
    {
        var csv = "id,name,amount,big,day,active,score,uid,at\n2,ok,1,1,2024-01-01,true,1,,\n" + record + "\n";
        var e = await Assert.ThrowsAsync<SourceException>(() => ReadAsync(csv));

        Assert.Contains($"T.csv:3: {message}", e.Message, StringComparison.Ordinal);
        Assert.False(e.Transient);
    }

    [Fact]
    public async Task ADeclaredColumnTheHeaderLacks_FailsNamingTheColumn()
    {
        var e = await Assert.ThrowsAsync<SourceException>(() => ReadAsync("id,name\n1,a\n"));

        Assert.Contains("column 'amount' of the entity's columns is missing from", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeclaredColumns_OnAJsonlFile_AreRefused_JsonCarriesItsTypes()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "T.jsonl"), "{\"id\":1}\n");

        var e = await Assert.ThrowsAsync<SourceException>(() => ReadAsync("id\n1\n"));

        Assert.Contains("declares column types (columns), which are for CSV files", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IntegerKeys_OutOfNumericOrder_AreNotSorted_AndStillRead()
    {
        var entity = new EntitySpec { Name = "T", Key = ["id"], Columns = new() { ["id"] = "integer" } };

        var (_, rows, _, sorted) = await ReadAsync("id\n10\n9\n", entity);

        Assert.False(sorted);
        Assert.Equal([[10L], [9L]], rows);
    }
}
