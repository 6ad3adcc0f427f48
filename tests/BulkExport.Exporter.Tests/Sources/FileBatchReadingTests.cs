using System.Buffers;
using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;
using BulkExport.Exporter.Tests.Support;

namespace BulkExport.Exporter.Tests.Sources;

/// <summary>
/// The files source fills typed batches straight from the file's bytes; what it gives must equal the
/// rows it reads one at a time: the same values, the same CSV and JSON bytes, the same digests.
/// </summary>
public sealed class FileBatchReadingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("file-batches-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string LongText = string.Concat(Enumerable.Repeat("Ærø 😀 ñ ", 30_000));

    [Fact]
    public async Task Csv_BatchesEqualTheRowByRowRows_AtQuotingAndTextBoundaries()
    {
        var csv = "id,navn,from,to,note\r\n"
            + "1,plain,2024-01-01T00:00:00Z,,\"\"\r\n"
            + "2,\"a,b \"\"q\"\" \r\nline\",2024-01-01T01:00:00+02:00,2025-01-01T00:00:00Z,\r\n"
            + $"3,{LongText},2024-02-29T12:00:00.1234567Z,,æøå\r\n"
            + "\r\n"
            + "4,\"\",2024-01-01T00:00:00Z,\"\",NULL\n"
            + "5,,2024-01-01T00:00:00Z,,\"\"\"\"";
        await File.WriteAllTextAsync(Path.Combine(_dir, "T.csv"), csv, new UTF8Encoding(false));
        await AssertBatchesEqualRowsAsync(Entity());
    }

    [Fact]
    public async Task Jsonl_BatchesEqualTheRowByRowRows_AtEscapingAndKindBoundaries()
    {
        var lines = new[]
        {
            """{"id":1,"navn":"plain","n":-9223372036854775808,"d":1.50,"b":true,"j":{"a":[1,2.50,null]},"from":"2024-01-01T00:00:00Z","to":null}""",
            """{"id":2,"navn":"esc \"q\" \\ \n \t \u00e6 \ud83d\ude00 \u0001","n":9223372036854775807,"d":-0.000000000000000000000000000001,"b":false,"j":"s","from":"2024-01-01T01:00:00+02:00","to":""}""",
            "",
            $$"""{"navn":"{{LongText}}","id":3,"n":0,"d":12345678901234567890.123,"b":null,"j":[],"from":"2024-02-29T12:00:00Z"}""",
            """{"id":4,"navn":"","n":null,"d":null,"j":null,"from":"2024-01-01T00:00:00Z","to":"2025-01-01T00:00:00Z"}""",
        };
        await File.WriteAllTextAsync(Path.Combine(_dir, "T.jsonl"), string.Join("\n", lines) + "\n", new UTF8Encoding(false));
        await AssertBatchesEqualRowsAsync(Entity());
    }

    private static EntitySpec Entity() => new()
    {
        Name = "T",
        Key = ["id"],
        Temporal = new TemporalSpec { RegistrationFrom = "from", RegistrationTo = "to", EffectiveFrom = "from", EffectiveTo = "to" },
    };

    private async Task AssertBatchesEqualRowsAsync(EntitySpec entity)
    {
        var source = new FilesSource(new FilesSourceSpec { Path = _dir }, [entity], TimeProvider.System);
        var (columns, rows, _) = await SourceReads.ReadAllAsync(source, entity);

        var all = new RowBatch(columns, 64, arenaBytes: 64);
        foreach (var row in await SourceReads.ReadBatchedAsync(source, entity))
        {
            all.AddBoxed(row);
        }

        Assert.True(rows.Count >= 4);
        Assert.Equal(rows.Count, all.Count);
        using var digest = new RowDigest(columns);
        Span<byte> a = stackalloc byte[RowDigest.Length];
        Span<byte> b = stackalloc byte[RowDigest.Length];
        for (var r = 0; r < rows.Count; r++)
        {
            digest.Compute(rows[r], a);
            digest.Compute(all.View(r), b);
            Assert.True(a.SequenceEqual(b), $"row {r + 1}: digest differs");
        }

        foreach (var format in new IStreamedFormat[] { RecordFormats.Csv, RecordFormats.Json })
        {
            var schema = new FormatSchema("T", columns, ["id"], null);
            Assert.Equal(
                Encode(format.CreateEncoder(schema), rows.Select(row => (IRowView)new ObjectRowView(columns).Reset(row))),
                Encode(format.CreateEncoder(schema), Enumerable.Range(0, all.Count).Select(all.View)));
        }
    }

    private static string Encode(IRecordEncoder encoder, IEnumerable<IRowView> rows)
    {
        var output = new ArrayBufferWriter<byte>();
        encoder.WriteHeader(output);
        foreach (var row in rows)
        {
            encoder.WriteRecord(row, output);
        }

        encoder.WriteFooter(output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }
}
