using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;

namespace BulkExport.Exporter.Tests.Sources;

/// <summary>
/// A file whose rows are in key order tells the pipeline so (the delta then merges instead of sorting
/// externally); any doubt means unsorted, and a file that loses its order between the passes fails by line.
/// </summary>
public sealed class FileKeyOrderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("file-key-order-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<bool> IsSortedAsync(string file, string content, EntitySpec? entity = null)
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, file), content, new UTF8Encoding(false));
        entity ??= new EntitySpec { Name = Path.GetFileNameWithoutExtension(file), Key = ["id"] };
        var source = new FilesSource(new FilesSourceSpec { Path = _dir }, [entity], TimeProvider.System);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);
        var batch = new RowBatch(reader.Columns, 2);
        while (await reader.FillAsync(batch, CancellationToken.None))
        {
            batch.Clear();
        }

        return reader is IRowReaderOrdering { IsSortedByKey: true };
    }

    [Fact]
    public async Task Jsonl_IntegerKeysAscendingAcrossTheLongRange_AreSorted() =>
        Assert.True(await IsSortedAsync("T.jsonl", "{\"id\":-9223372036854775808}\n{\"id\":-1}\n\n{\"id\":0}\n{\"id\":10}\n{\"id\":9223372036854775807}\n"));

    [Fact]
    public async Task Jsonl_IntegerKeysInTextOrderButNotNumericOrder_AreNotSorted() =>
        Assert.False(await IsSortedAsync("T.jsonl", "{\"id\":10}\n{\"id\":9}\n"));

    [Fact]
    public async Task Jsonl_TextKeysInUtf8ByteOrder_WithEscapes_AreSorted() =>
        // "B" < "a" < "a\u0000" < "ab" < "z" < "æ" (0xC3 0xA6) < "😀" (0xF0 …) by bytes; \u0061 is "a" once unescaped.
        Assert.True(await IsSortedAsync("T.jsonl", "{\"id\":\"B\"}\n{\"id\":\"\\u0061\"}\n{\"id\":\"a\\u0000\"}\n{\"id\":\"ab\"}\n{\"id\":\"z\"}\n{\"id\":\"æ\"}\n{\"id\":\"😀\"}\n"));

    [Fact]
    public async Task Jsonl_TextKeysInCultureOrderOnly_AreNotSorted() =>
        Assert.False(await IsSortedAsync("T.jsonl", "{\"id\":\"a\"}\n{\"id\":\"B\"}\n"));

    [Fact]
    public async Task Jsonl_DecimalOrMixedKeys_AreNotSorted()
    {
        Assert.False(await IsSortedAsync("T.jsonl", "{\"id\":1}\n{\"id\":1.5}\n{\"id\":2}\n"));
    }

    [Fact]
    public async Task Jsonl_CompositeKey_IsOrderedLeftToRight()
    {
        var entity = new EntitySpec { Name = "T", Key = ["a", "b"] };
        Assert.True(await IsSortedAsync("T.jsonl", "{\"b\":9,\"a\":1}\n{\"a\":1,\"b\":10}\n{\"a\":2,\"b\":0}\n", entity));
        File.Delete(Path.Combine(_dir, "T.jsonl"));
        Assert.False(await IsSortedAsync("T.jsonl", "{\"a\":1,\"b\":10}\n{\"a\":1,\"b\":9}\n", entity));
    }

    [Fact]
    public async Task Jsonl_TemporalEntity_IsLeftToTheSort()
    {
        var entity = new EntitySpec
        {
            Name = "T",
            Key = ["id"],
            Temporal = new TemporalSpec { RegistrationFrom = "f", RegistrationTo = "t", EffectiveFrom = "f", EffectiveTo = "t" },
        };
        Assert.False(await IsSortedAsync("T.jsonl", "{\"id\":1,\"f\":\"2024-01-01T00:00:00Z\",\"t\":null}\n{\"id\":2,\"f\":\"2024-01-01T00:00:00Z\",\"t\":null}\n", entity));
    }

    [Fact]
    public async Task Csv_TextKeysInByteOrder_WithQuotesBomAndCrlf_AreSorted() =>
        Assert.True(await IsSortedAsync("T.csv", "\uFEFFid,navn\r\n\"A\"\"1\",x\r\n\r\nA2,\"multi\r\nline\"\r\nb,y\r\næ,z"));

    [Fact]
    public async Task Csv_KeysOutOfOrder_AreNotSorted() =>
        Assert.False(await IsSortedAsync("T.csv", "id,navn\n2,x\n10,y\n"));

    [Fact]
    public async Task Jsonl_FileReorderedBetweenThePasses_FailsNamingFileAndLine()
    {
        var path = Path.Combine(_dir, "T.jsonl");
        await File.WriteAllTextAsync(path, "{\"id\":1}\n{\"id\":2}\n");
        var entity = new EntitySpec { Name = "T", Key = ["id"] };
        var source = new FilesSource(new FilesSourceSpec { Path = _dir }, [entity], TimeProvider.System);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);
        Assert.True(reader is IRowReaderOrdering { IsSortedByKey: true });

        // Rewritten in place (same file, same length): the open handle sees the new bytes.
        await using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            await stream.WriteAsync("{\"id\":2}\n{\"id\":1}\n"u8.ToArray());
        }

        var batch = new RowBatch(reader.Columns, 8);
        var e = await Assert.ThrowsAsync<SourceException>(async () => await reader.FillAsync(batch, CancellationToken.None));
        Assert.Contains("T.jsonl:2", e.Message, StringComparison.Ordinal);
        Assert.Contains("key order", e.Message, StringComparison.Ordinal);
        Assert.False(e.Transient);
    }

    [Fact]
    public async Task Csv_FileReorderedBetweenThePasses_FailsNamingFileAndLine()
    {
        // Larger than the reader's first read, so the rows past it are read after the rewrite.
        var path = Path.Combine(_dir, "T.csv");
        var keys = Enumerable.Range(0, 300_000).Select(i => $"k{i:D6}").ToArray();
        await File.WriteAllTextAsync(path, "id\n" + string.Join("\n", keys) + "\n");
        var entity = new EntitySpec { Name = "T", Key = ["id"] };
        var source = new FilesSource(new FilesSourceSpec { Path = _dir }, [entity], TimeProvider.System);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);
        Assert.True(reader is IRowReaderOrdering { IsSortedByKey: true });
        await using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            (keys[200_000], keys[200_001]) = (keys[200_001], keys[200_000]);
            await stream.WriteAsync(Encoding.UTF8.GetBytes("id\n" + string.Join("\n", keys) + "\n"));
        }

        var e = await Assert.ThrowsAsync<SourceException>(async () =>
        {
            while (await reader.ReadAsync(CancellationToken.None))
            {
            }
        });
        Assert.Contains("T.csv:200003", e.Message, StringComparison.Ordinal);
        Assert.Contains("key order", e.Message, StringComparison.Ordinal);
    }
}
