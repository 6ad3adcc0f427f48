using BulkExport.Api;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;

namespace BulkExport.Exporter.Tests.Sources;

/// <summary>Every data error of the files source names the entity, the file and line, and the column.</summary>
public sealed class FileSourceErrorTests : IDisposable
{
    private static readonly ReadRequest Request = new(SortByKey: false);
    private static readonly byte[] BadUtf8 = [0xC3, 0x28];

    private readonly string _dir = Directory.CreateTempSubdirectory("file-errors-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<SourceException> FailAsync(string file, byte[] content)
    {
        await File.WriteAllBytesAsync(Path.Combine(_dir, file), content);
        var entity = new EntitySpec { Name = "Vej", Key = ["id"] };
        var source = new FilesSource(new FilesSourceSpec { Path = _dir }, [entity], TimeProvider.System);
        var rowByRow = await Assert.ThrowsAsync<SourceException>(async () =>
        {
            await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
            await using var reader = await snapshot.ReadAsync(entity, Request, CancellationToken.None);
            while (await reader.ReadAsync(CancellationToken.None))
            {
            }
        });

        // The pipeline reads into typed batches: the same failure, in the same words.
        var batched = await Assert.ThrowsAsync<SourceException>(async () =>
        {
            await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
            await using var reader = await snapshot.ReadAsync(entity, Request, CancellationToken.None);
            var batch = new BulkExport.Exporter.Rows.RowBatch(reader.Columns, 8);
            while (await reader.FillAsync(batch, CancellationToken.None))
            {
                batch.Clear();
            }
        });
        Assert.Equal(rowByRow.Message, batched.Message);
        return rowByRow;
    }

    private static byte[] Bytes(params object[] parts) =>
        [.. parts.SelectMany(p => p is byte[] b ? b : System.Text.Encoding.UTF8.GetBytes((string)p))];

    private static void AssertNames(SourceException e, string fileAndLine, string column)
    {
        Assert.Contains("Entity 'Vej'", e.Message, StringComparison.Ordinal);
        Assert.Contains(fileAndLine, e.Message, StringComparison.Ordinal);
        Assert.Contains(column, e.Message, StringComparison.Ordinal);
        Assert.False(e.Transient);
    }

    [Fact]
    public async Task Jsonl_DuplicatedMember_IsRefused_NamingEntityFileLineAndMember()
    {
        var e = await FailAsync("Vej.jsonl", Bytes("{\"id\":1,\"navn\":\"a\"}\n{\"id\":2,\"navn\":\"b\",\"navn\":\"c\"}\n"));

        AssertNames(e, "Vej.jsonl:2", "member 'navn' appears twice");
    }

    [Fact]
    public async Task Jsonl_DuplicatedMemberInsideANestedObject_IsRefused_NamingTheColumn()
    {
        var e = await FailAsync("Vej.jsonl", Bytes("{\"id\":1,\"extra\":{\"a\":1,\"a\":2}}\n"));

        AssertNames(e, "Vej.jsonl:1", "column 'extra'");
    }

    [Fact]
    public async Task Jsonl_InvalidUtf8InAValue_NamesEntityFileLineAndColumn()
    {
        var e = await FailAsync("Vej.jsonl", Bytes("{\"id\":1,\"navn\":\"ok\"}\n{\"id\":2,\"navn\":\"", BadUtf8, "\"}\n"));

        AssertNames(e, "Vej.jsonl:2", "column 'navn'");
        Assert.Contains("UTF-8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jsonl_InvalidUtf8InAMemberName_NamesEntityFileAndLine()
    {
        var e = await FailAsync("Vej.jsonl", Bytes("{\"id\":1,\"na", BadUtf8, "vn\":\"x\"}\n"));

        AssertNames(e, "Vej.jsonl:1", "member name");
        Assert.Contains("UTF-8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jsonl_MalformedJson_NamesTheEntityToo()
    {
        var e = await FailAsync("Vej.jsonl", Bytes("{\"id\":1,\"navn\":tru}\n"));

        AssertNames(e, "Vej.jsonl:1", "column 'navn'");
    }

    [Fact]
    public async Task Csv_InvalidUtf8_NamesEntityFileLineAndColumn()
    {
        var e = await FailAsync("Vej.csv", Bytes("id,navn\n1,ok\n2,\"a", BadUtf8, "\"\n"));

        AssertNames(e, "Vej.csv:3", "column 'navn'");
        Assert.Contains("UTF-8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Csv_UnterminatedQuote_AndJunkAfterAQuote_NameEntityFileLineAndColumn()
    {
        AssertNames(await FailAsync("Vej.csv", Bytes("id,navn\n1,\"open\n")), "Vej.csv:2", "column 'navn'");
        File.Delete(Path.Combine(_dir, "Vej.csv"));
        AssertNames(await FailAsync("Vej.csv", Bytes("id,navn\n1,\"a\"b\n")), "Vej.csv:2", "column 'navn'");
    }

    [Fact]
    public async Task Csv_InvalidUtf8InTheHeader_NamesEntityFileAndField()
    {
        var e = await FailAsync("Vej.csv", Bytes("id,na", BadUtf8, "\n1,x\n"));

        AssertNames(e, "Vej.csv:1", "field 2");
    }
}
