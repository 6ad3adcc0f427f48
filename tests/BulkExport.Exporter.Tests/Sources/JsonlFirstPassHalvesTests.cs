using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;

namespace BulkExport.Exporter.Tests.Sources;

/// <summary>
/// A large JSONL file's first pass runs in two halves; what it concludes (columns, kinds, key order)
/// and every failure's words and line must be what the one-thread pass gives.
/// </summary>
public sealed class JsonlFirstPassHalvesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("jsonl-halves-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly EntitySpec Entity = new() { Name = "T", Key = ["id"] };

    private async Task<(string Outcome, bool Sorted)> ReadAsync(string path, long parallelFrom)
    {
        using var handle = File.OpenHandle(path);
        var file = new EntityFile(path, FileFormat.JsonLines, handle);
        try
        {
            var reader = await JsonLinesRowReader.OpenAsync(file, Entity, new EntityLayout(Entity), CancellationToken.None, parallelFrom);
            var text = new StringBuilder(string.Join(",", reader.Columns.Select(c => $"{c.Name}:{c.Kind}:{c.Nullable}"))).Append('\n');
            var batch = new RowBatch(reader.Columns, 16);
            while (await reader.FillAsync(batch, CancellationToken.None))
            {
                for (var r = 0; r < batch.Count; r++)
                {
                    var view = batch.View(r);
                    text.AppendJoin("|", Enumerable.Range(0, reader.Columns.Count).Select(c => view.GetValue(c)?.ToString() ?? "NULL")).Append('\n');
                }

                batch.Clear();
            }

            return (text.ToString(), reader.IsSortedByKey);
        }
        catch (SourceException e)
        {
            return ("error: " + e.Message, false);
        }
    }

    public static TheoryData<string, string> Files() => new()
    {
        // Lines 1-40 and 41-80 fall in different halves.
        { "sorted", string.Concat(Enumerable.Range(0, 80).Select(i => $"{{\"id\":{i},\"v\":\"x{i}\"}}\n")) },
        { "out of order only across the split", string.Concat(Enumerable.Range(0, 80).Select(i => $"{{\"id\":{(i < 40 ? i + 100 : i)},\"v\":1}}\n")) },
        { "a column only in the second half, kinds widened there", string.Concat(Enumerable.Range(0, 80).Select(i => i < 60 ? $"{{\"id\":{i},\"n\":{i}}}\n" : $"{{\"id\":{i},\"n\":{i}.5,\"late\":[{i}]}}\n")) },
        { "blank lines and CRLF", string.Concat(Enumerable.Range(0, 80).Select(i => i % 7 == 0 ? "\r\n" : $"{{\"id\":\"k{i:D3}\"}}\r\n")) },
        { "the key changes kind in the second half", string.Concat(Enumerable.Range(0, 80).Select(i => i < 70 ? $"{{\"id\":{i}}}\n" : $"{{\"id\":\"s{i}\"}}\n")) },
        { "bad JSON in the second half", string.Concat(Enumerable.Range(0, 80).Select(i => i == 66 ? "{\"id\":66,\"v\":tru}\n" : $"{{\"id\":{i},\"v\":true}}\n")) },
        { "a duplicated member in the second half", string.Concat(Enumerable.Range(0, 80).Select(i => i == 77 ? "{\"id\":77,\"id\":78}\n" : $"{{\"id\":{i}}}\n")) },
    };

    [Theory]
    [MemberData(nameof(Files))]
    public async Task Halves_ConcludeAndFailExactlyAsOneThread(string scenario, string content)
    {
        var path = Path.Combine(_dir, "T.jsonl");
        await File.WriteAllTextAsync(path, content, new UTF8Encoding(false));

        var oneThread = await ReadAsync(path, long.MaxValue);
        var halves = await ReadAsync(path, parallelFrom: 0);

        Assert.Equal(oneThread, halves);
        Assert.True(scenario.Length > 0);
    }

    [Fact]
    public async Task Halves_OfASortedFile_StaySorted_AndAcrossTheSplitOutOfOrder_AreNot()
    {
        var path = Path.Combine(_dir, "T.jsonl");
        await File.WriteAllTextAsync(path, string.Concat(Enumerable.Range(0, 80).Select(i => $"{{\"id\":{i}}}\n")));
        Assert.True((await ReadAsync(path, 0)).Sorted);
        await File.WriteAllTextAsync(path, string.Concat(Enumerable.Range(0, 80).Select(i => $"{{\"id\":{(i < 40 ? i + 100 : i)}}}\n")));
        Assert.False((await ReadAsync(path, 0)).Sorted);
    }
}
