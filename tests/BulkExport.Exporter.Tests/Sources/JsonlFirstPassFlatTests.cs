using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;

namespace BulkExport.Exporter.Tests.Sources;

/// <summary>
/// The JSONL first pass reads plain lines without a JSON tokenizer and hands anything else to the
/// tokenizer; either way the columns, kinds, key order and errors are the ones the tokenizer gives.
/// </summary>
public sealed class JsonlFirstPassFlatTests : IDisposable
{
    private static readonly ReadRequest Request = new(SortByKey: false);

    private readonly string _dir = Directory.CreateTempSubdirectory("jsonl-flat-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<(IReadOnlyList<Column> Columns, bool Sorted, int Rows)> ReadAsync(params string[] lines)
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "T.jsonl"), string.Join("\n", lines) + "\n", new UTF8Encoding(false));
        var entity = new EntitySpec { Name = "T", Key = ["id"] };
        var source = new FilesSource(new FilesSourceSpec { Path = _dir }, [entity], TimeProvider.System);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, Request, CancellationToken.None);
        var rows = 0;
        while (await reader.ReadAsync(CancellationToken.None))
        {
            rows++;
        }

        return (reader.Columns, reader is IRowReaderOrdering { IsSortedByKey: true }, rows);
    }

    [Fact]
    public async Task KindsAndOrder_AreTheTokenizersOnes_AtStringNumberAndStructureBoundaries()
    {
        var (columns, sorted, rows) = await ReadAsync(
            """ { "id" : 1 , "i":-0, "n":1.0, "e":1E3, "big":9223372036854775808, "s":"a \"q\" \\ \u00e6 ]}", "j":{"a":["]", "}", {"b":[]}]}, "b":true, "z":null } """,
            """{"id":2,"i":9223372036854775807,"n":2,"e":-1e-3,"big":1,"s":"","j":[],"b":false,"z":null,"\u006ate":"escaped name"}""",
            """{"id":3,"i":-9223372036854775808,"n":0.5,"e":0,"big":-1,"s":"x","j":"text","b":null,"z":"late"}""");

        Assert.Equal(
            [("id", ColumnKind.Integer), ("i", ColumnKind.Integer), ("n", ColumnKind.Decimal), ("e", ColumnKind.Decimal), ("big", ColumnKind.Decimal),
             ("s", ColumnKind.Text), ("j", ColumnKind.Json), ("b", ColumnKind.Boolean), ("z", ColumnKind.Text), ("jte", ColumnKind.Text)],
            columns.Select(c => (c.Name, c.Kind)));
        Assert.True(sorted);
        Assert.Equal(3, rows);
    }

    [Fact]
    public async Task TextKeys_WithEscapes_AreOrderedByTheirUnescapedText()
    {
        // "\u0061" is "a": in order before "b" only once unescaped.
        var (_, sorted, _) = await ReadAsync("""{"id":"\u0061"}""", """{"id":"a"}""", """{"id":"b"}""");

        Assert.True(sorted);
    }

    [Fact]
    public async Task IntegerKeys_OutOfOrder_AreNotSorted()
    {
        var (_, sorted, rows) = await ReadAsync("""{"id":10}""", """{"id":9}""");

        Assert.False(sorted);
        Assert.Equal(2, rows);
    }

    [Theory]
    [InlineData("""{"id":1,"a":[1,,2]}""", "T.jsonl:1: invalid JSON in column 'a'")]
    [InlineData("""{"id":1,"a":01}""", "T.jsonl:1: invalid JSON")]
    [InlineData("""{"id":1,"a":"x"} x""", "T.jsonl:1: invalid JSON")]
    [InlineData("""{"id":1,"id":2}""", "T.jsonl:1: member 'id' appears twice")]
    [InlineData("""{"id":"1","a":1}""", "T.jsonl:2: key column 'id' holds string where earlier lines hold integer")]
    public async Task AMalformedLine_FailsTheRun_NamingFileAndLine(string line, string message)
    {
        string[] lines = message.Contains(":2:", StringComparison.Ordinal) ? ["""{"id":0}""", line] : [line];

        var e = await Assert.ThrowsAsync<SourceException>(() => ReadAsync(lines));

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
