using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;

namespace BulkExport.Exporter.Tests.Sources;

/// <summary>The files source's byte-level fast paths accept and give exactly what the text paths they shortcut do.</summary>
public sealed class FileValuesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("file-values-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("2024-01-01T00:00:00Z")]
    [InlineData("2024-02-29T23:59:59.9999999Z")]
    [InlineData("2024-02-29T12:00:00.1Z")]
    [InlineData("2024-01-01T01:00:00+02:00")]
    [InlineData("2024-01-01T01:00:00.123-13:59")]
    [InlineData("0002-01-01T00:00:00+13:00")]
    [InlineData("9998-12-31T23:59:59-13:00")]
    [InlineData("0001-01-01T00:00:00Z")]
    [InlineData("9999-12-31T23:59:59.9999999Z")]
    [InlineData("2024-01-01T00:00:00+14:00")]
    [InlineData("2024-01-01T00:00:00-14:00")]
    [InlineData("2024-01-01T00:00:00+15:00")]
    [InlineData("2023-02-29T00:00:00Z")]
    [InlineData("2024-13-01T00:00:00Z")]
    [InlineData("2024-01-01T24:00:00Z")]
    [InlineData("2024-01-01T23:60:00Z")]
    [InlineData("2024-01-01T23:59:60Z")]
    [InlineData("2024-01-01T00:00:00.12345678Z")]
    [InlineData("2024-01-01T00:00:00.Z")]
    [InlineData("2024-01-01T00:00:00")]
    [InlineData("2024-01-01T00:00:00+02")]
    [InlineData("2024-01-01T00:00:00+0200")]
    [InlineData("2024-01-01 00:00:00Z")]
    [InlineData(" 2024-01-01T00:00:00Z ")]
    [InlineData("2024-01-01T00:00Z")]
    [InlineData("2024-01-01")]
    [InlineData("2024-1-01T00:00:00Z")]
    [InlineData("２０２４-01-01T00:00:00Z")]
    [InlineData("not a time")]
    public void TimestampFromUtf8_AcceptsAndGivesWhatTheTextParserDoes(string text)
    {
        var fromText = FileValues.TryParseTimestamp(text, out var expected);
        var fromBytes = FileValues.TryParseTimestamp(Encoding.UTF8.GetBytes(text), out var actual);

        Assert.Equal(fromText, fromBytes);
        Assert.Equal(expected.UtcTicks, actual.UtcTicks);
        Assert.Equal(expected.Offset, actual.Offset);
    }

    private async Task<SourceException?> ReadAsync(string jsonl)
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "T.jsonl"), jsonl, new UTF8Encoding(false));
        var entity = new EntitySpec { Name = "T", Key = ["id"] };
        var source = new FilesSource(new FilesSourceSpec { Path = _dir }, [entity], TimeProvider.System);
        try
        {
            await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
            await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);
            var batch = new RowBatch(reader.Columns, 4);
            while (await reader.FillAsync(batch, CancellationToken.None))
            {
                batch.Clear();
            }

            return null;
        }
        catch (SourceException e)
        {
            return e;
        }
    }

    [Fact]
    public async Task Jsonl_SameNameInSiblingAndNestedObjects_IsNotADuplicate()
    {
        Assert.Null(await ReadAsync("{\"id\":1,\"j\":{\"x\":[{\"x\":1},{\"x\":2}],\"y\":{\"x\":{\"x\":1}},\"z\":[]}}\n"));
    }

    [Theory]
    [InlineData("{\"a\":[{\"x\":1,\"y\":2,\"x\":3}]}", "x")]
    [InlineData("{\"a\":{\"b\":1},\"\\u0061\":2}", "a")]
    [InlineData("{\"æ\":1,\"\\u00e6\":2}", "æ")]
    public async Task Jsonl_DuplicateMemberAnywhereInAJsonValue_FailsNamingLineColumnAndMember(string value, string member)
    {
        var e = await ReadAsync("{\"id\":1,\"j\":{}}\n{\"id\":2,\"j\":" + value + "}\n");

        Assert.NotNull(e);
        Assert.Contains("T.jsonl:2", e.Message, StringComparison.Ordinal);
        Assert.Contains("column 'j'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{member}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jsonl_DuplicateInAnObjectTooLargeForPairs_IsStillFound()
    {
        var members = string.Join(",", Enumerable.Range(0, 200).Select(i => $"\"m{i}\":{i}"));
        Assert.Null(await ReadAsync("{\"id\":1,\"j\":{" + members + "}}\n"));
        var e = await ReadAsync("{\"id\":1,\"j\":{" + members + ",\"m7\":0}}\n");

        Assert.NotNull(e);
        Assert.Contains("T.jsonl:1", e.Message, StringComparison.Ordinal);
        Assert.Contains("column 'j'", e.Message, StringComparison.Ordinal);
    }
}
