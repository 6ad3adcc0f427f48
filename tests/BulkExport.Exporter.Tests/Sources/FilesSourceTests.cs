using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;
using BulkExport.Exporter.Tests.Formats;
using BulkExport.Exporter.Rows;
using Microsoft.Extensions.Time.Testing;
using BulkExport.Exporter.Tests.Support;

namespace BulkExport.Exporter.Tests.Sources;

public sealed class FilesSourceTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2025, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private static readonly ReadRequest Request = new(SortByKey: false);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Jsonl_InfersColumnsInFirstSeenOrderAndKindsFromValues()
    {
        Write("E.jsonl",
            """
            {"id":1,"flag":true,"n":1,"d":1.5,"s":"a","o":{"x":[1,2]},"mixed":1,"nulls":null}
            {"id":2,"flag":false,"n":-7,"d":2,"s":"b","o":[1],"mixed":"two","late":"x"}
            """);
        var (columns, rows) = await ReadAllAsync(Entity("E", ["id"]));

        Assert.Equal(["id", "flag", "n", "d", "s", "o", "mixed", "nulls", "late"], columns.Select(c => c.Name));
        Assert.Equal(
            [ColumnKind.Integer, ColumnKind.Boolean, ColumnKind.Integer, ColumnKind.Decimal, ColumnKind.Text, ColumnKind.Json, ColumnKind.Json, ColumnKind.Text, ColumnKind.Text],
            columns.Select(c => c.Kind));
        Assert.False(columns[0].Nullable);
        Assert.True(columns[1].Nullable);

        Assert.Equal(2, rows.Count);
        Assert.Equal(new object?[] { 1L, true, 1L, new DecimalText("1.5"), "a", new RawJson("{\"x\":[1,2]}"), new RawJson("1"), null, null }, rows[0]);
        Assert.Equal(new object?[] { 2L, false, -7L, new DecimalText("2"), "b", new RawJson("[1]"), new RawJson("\"two\""), null, "x" }, rows[1]);
    }

    [Fact]
    public async Task Jsonl_TemporalColumnsBecomeUtcTimestampsWithNullOrEmptyAsOpenEnd()
    {
        Write("T.jsonl",
            """
            {"id":"a","from":"2020-01-01T10:00:00+02:00","to":null}
            {"id":"b","from":"2020-01-01T10:00:00.1234567Z","to":""}
            {"id":"c","from":"2020-01-01 10:00:00","to":"2021-06-01"}
            """);
        var (columns, rows) = await ReadAllAsync(TemporalEntity("T"));

        Assert.All(columns.Where(c => c.Name is "from" or "to"), c => Assert.Equal(ColumnKind.TimestampTz, c.Kind));
        Assert.Equal(new DateTimeOffset(2020, 1, 1, 8, 0, 0, TimeSpan.Zero), rows[0][1]);
        Assert.Equal(TimeSpan.Zero, ((DateTimeOffset)rows[0][1]!).Offset);
        Assert.Null(rows[0][2]);
        Assert.Equal(new DateTimeOffset(2020, 1, 1, 10, 0, 0, TimeSpan.Zero).AddTicks(1_234_567), rows[1][1]);
        Assert.Null(rows[1][2]);
        Assert.Equal(new DateTimeOffset(2020, 1, 1, 10, 0, 0, TimeSpan.Zero), rows[2][1]);
        Assert.Equal(new DateTimeOffset(2021, 6, 1, 0, 0, 0, TimeSpan.Zero), rows[2][2]);
    }

    [Fact]
    public async Task Jsonl_BadTimestamp_FailsWithFileAndLine()
    {
        Write("T.jsonl", "{\"id\":\"a\",\"from\":\"2020-01-01\",\"to\":null}\n\n{\"id\":\"b\",\"from\":\"yesterday\",\"to\":null}\n");
        var error = await Assert.ThrowsAsync<SourceException>(() => ReadAllAsync(TemporalEntity("T")));
        Assert.Contains("T.jsonl:3", error.Message, StringComparison.Ordinal);
        Assert.Contains("yesterday", error.Message, StringComparison.Ordinal);
        Assert.False(error.Transient);
    }

    [Fact]
    public async Task Jsonl_MalformedLine_FailsWithFileAndLine()
    {
        Write("E.jsonl", "{\"id\":1}\r\n{\"id\":2}\r\n{\"id\":3,}\r\n");
        var error = await Assert.ThrowsAsync<SourceException>(() => ReadAllAsync(Entity("E", ["id"])));
        Assert.Contains("E.jsonl:3", error.Message, StringComparison.Ordinal);
        Assert.False(error.Transient);
    }

    [Fact]
    public async Task Jsonl_LineThatIsNotAnObject_Fails()
    {
        Write("E.jsonl", "{\"id\":1}\n[1,2]\n");
        var error = await Assert.ThrowsAsync<SourceException>(() => ReadAllAsync(Entity("E", ["id"])));
        Assert.Contains("E.jsonl:2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jsonl_NullKeyValue_FailsNamingColumnAndLine()
    {
        Write("E.jsonl", "{\"id\":1}\n{\"id\":null}\n");
        var error = await Assert.ThrowsAsync<SourceException>(() => ReadAllAsync(Entity("E", ["id"])));
        Assert.Contains("E.jsonl:2", error.Message, StringComparison.Ordinal);
        Assert.Contains("'id'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jsonl_NumbersWithExponents_BecomeExactDecimalText()
    {
        Write("E.jsonl", "{\"id\":1,\"v\":1.5e3}\n{\"id\":2,\"v\":-2.5E-3}\n{\"id\":3,\"v\":12345678901234567890123}\n");
        var (columns, rows) = await ReadAllAsync(Entity("E", ["id"]));
        Assert.Equal(ColumnKind.Decimal, columns[1].Kind);
        Assert.Equal([new DecimalText("1500"), new DecimalText("-0.0025"), new DecimalText("12345678901234567890123")], rows.Select(r => r[1]));
    }

    [Fact]
    public async Task Jsonl_LineLongerThanTheReadBuffer_IsRead()
    {
        var big = new string('å', 400_000);
        Write("E.jsonl", $"{{\"id\":1,\"t\":\"{big}\"}}\n{{\"id\":2,\"t\":\"small\"}}");
        var (_, rows) = await ReadAllAsync(Entity("E", ["id"]));
        Assert.Equal(big, rows[0][1]);
        Assert.Equal("small", rows[1][1]);
    }

    [Fact]
    public async Task Csv_AllTextWithNullVersusEmptyAndQuotedLineBreaks()
    {
        Write("C.csv", "\uFEFFid,name,note\r\n1,\"Ærø, \"\"st\"\"\",\r\n2,\"\",\"two\nlines\"\r\n3,plain,x");
        var (columns, rows) = await ReadAllAsync(Entity("C", ["id"]));

        Assert.Equal(["id", "name", "note"], columns.Select(c => c.Name));
        Assert.All(columns, c => Assert.Equal(ColumnKind.Text, c.Kind));
        Assert.Equal(new object?[] { "1", "Ærø, \"st\"", null }, rows[0]);
        Assert.Equal(new object?[] { "2", "", "two\nlines" }, rows[1]);
        Assert.Equal(new object?[] { "3", "plain", "x" }, rows[2]);
    }

    [Fact]
    public async Task Csv_TemporalColumnsParsedAndBadValueReportsPhysicalLine()
    {
        Write("T.csv", "id,from,to\n\"a\nb\",2020-01-01T00:00:00Z,\nc,2020-01-02,not-a-date\n");
        var error = await Assert.ThrowsAsync<SourceException>(() => ReadAllAsync(TemporalEntity("T")));
        // The first record spans lines 2-3, so the bad one starts on line 4.
        Assert.Contains("T.csv:4", error.Message, StringComparison.Ordinal);
        Assert.Contains("not-a-date", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Csv_TemporalColumns_AreTimestampTz()
    {
        Write("T.csv", "id,from,to\na,2020-01-01T01:00:00+01:00,\"\"\n");
        var (columns, rows) = await ReadAllAsync(TemporalEntity("T"));
        Assert.Equal(ColumnKind.TimestampTz, columns[1].Kind);
        Assert.Equal(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero), rows[0][1]);
        Assert.Null(rows[0][2]);
    }

    [Fact]
    public async Task Csv_WrongFieldCount_FailsWithLine()
    {
        Write("C.csv", "id,name\n1,a\n2,b,extra\n");
        var error = await Assert.ThrowsAsync<SourceException>(() => ReadAllAsync(Entity("C", ["id"])));
        Assert.Contains("C.csv:3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingKeyColumn_FailsNamingEntityAndColumn()
    {
        Write("C.csv", "name\nx\n");
        var error = await Assert.ThrowsAsync<SourceException>(() => ReadAllAsync(Entity("C", ["id"])));
        Assert.Contains("'C'", error.Message, StringComparison.Ordinal);
        Assert.Contains("'id'", error.Message, StringComparison.Ordinal);
        Assert.False(error.Transient);
    }

    [Fact]
    public async Task MissingFile_FailsAtSnapshotNamingEntityAndPathsTried()
    {
        var source = Source(Entity("Nope", ["id"]));
        var error = await Assert.ThrowsAsync<SourceException>(async () => await source.OpenSnapshotAsync(CancellationToken.None));
        Assert.Contains("'Nope'", error.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(_dir.Path, "Nope.jsonl"), error.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(_dir.Path, "Nope.csv"), error.Message, StringComparison.Ordinal);
        Assert.False(error.Transient);
    }

    [Fact]
    public async Task BothFilesPresent_JsonlIsPreferred()
    {
        Write("E.jsonl", "{\"id\":1,\"from\":\"jsonl\"}\n");
        Write("E.csv", "id,from\n1,csv\n");
        var (_, rows) = await ReadAllAsync(Entity("E", ["id"]));
        Assert.Equal("jsonl", Assert.Single(rows)[1]);
    }

    [Fact]
    public async Task Snapshot_FileReplacedAfterOpening_StillReadsTheOldContent()
    {
        Write("E.jsonl", "{\"id\":1}\n{\"id\":2}\n");
        var entity = Entity("E", ["id"]);
        await using var snapshot = await Source(entity).OpenSnapshotAsync(CancellationToken.None);

        var replacement = Path.Combine(_dir.Path, "E.jsonl.new");
        File.WriteAllText(replacement, "{\"id\":3,\"extra\":true}\n");
        File.Move(replacement, Path.Combine(_dir.Path, "E.jsonl"), overwrite: true);

        var rows = await ReadRowsAsync(snapshot, entity);
        Assert.Equal([1L, 2L], rows.Select(r => r[0]));
    }

    [Fact]
    public async Task Snapshot_PointInTimeIsTheTimeProvidersNow_AndEntityCanBeReadTwice()
    {
        Write("E.csv", "id\n1\n2\n");
        var entity = Entity("E", ["id"]);
        await using var snapshot = await Source(entity).OpenSnapshotAsync(CancellationToken.None);

        Assert.Equal(Now, snapshot.PointInTime);
        var first = await ReadRowsAsync(snapshot, entity);
        var second = await ReadRowsAsync(snapshot, entity);
        Assert.Equal(first.Select(r => r[0]), second.Select(r => r[0]));
        Assert.Equal(["1", "2"], first.Select(r => r[0]));
    }

    [Fact]
    public async Task Reader_CurrentIsAFreshArrayPerRow()
    {
        Write("E.jsonl", "{\"id\":1}\n{\"id\":2}\n");
        var (_, rows) = await ReadAllAsync(Entity("E", ["id"]));
        Assert.NotSame(rows[0], rows[1]);
        Assert.Equal(1L, rows[0][0]);
    }

    [Fact]
    public async Task FileRowsThroughCsvWriter_RoundTripNullsEmptiesAndText()
    {
        Write("C.csv", "id,name\r\n1,\"\"\r\n2,\r\n3,\"a,\"\"b\"\"\r\nc\"\r\n");
        var entity = Entity("C", ["id"]);
        await using var snapshot = await Source(entity).OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, Request, CancellationToken.None);
        using var temp = new TempDirectory();
        using var writer = new DataFileSetWriter(RecordFormats.Csv, reader.Columns, new DataFileSetOptions((_, _) => "C", "C", ["id"], temp.Path, 1 << 20, null, Now));
        while (await reader.ReadAsync(CancellationToken.None))
        {
            writer.Write(reader.Current, new byte[32]);
        }

        var file = Assert.Single(writer.Complete().Files);
        var csv = Encoding.UTF8.GetString(FormatTestData.ReadZip(file.LocalPath)["C.csv"]);
        Assert.Equal(File.ReadAllText(Path.Combine(_dir.Path, "C.csv")), csv);
    }

    [Theory]
    [InlineData("0", "0")]
    [InlineData("-1.50", "-1.50")]
    [InlineData("1e0", "1")]
    [InlineData("1.25e1", "12.5")]
    [InlineData("1.25e2", "125")]
    [InlineData("1.25e5", "125000")]
    [InlineData("1.25e-1", "0.125")]
    [InlineData("-5E-5", "-0.00005")]
    [InlineData("0e10", "0")]
    [InlineData("-0.0e1", "0")]
    [InlineData("0.00e3", "0")]
    public void CanonicalDecimal_RemovesTheExponentExactly(string json, string expected)
    {
        Assert.Equal(expected, FileValues.CanonicalDecimal(Encoding.ASCII.GetBytes(json)));
    }

    private void Write(string name, string content) => File.WriteAllText(Path.Combine(_dir.Path, name), content);

    private FilesSource Source(params EntitySpec[] entities) =>
        new(new FilesSourceSpec { Path = _dir.Path }, entities, new FakeTimeProvider(Now));

    private static EntitySpec Entity(string name, List<string> key) => new() { Name = name, Key = key };

    private static EntitySpec TemporalEntity(string name) => new()
    {
        Name = name,
        Key = ["id"],
        Temporal = new TemporalSpec { RegistrationFrom = "from", RegistrationTo = "to", EffectiveFrom = "from", EffectiveTo = "to" },
    };

    private async Task<(IReadOnlyList<Column> Columns, List<object?[]> Rows)> ReadAllAsync(EntitySpec entity)
    {
        var (columns, rows, _) = await SourceReads.ReadAllAsync(Source(entity), entity, Request);
        return (columns, rows);
    }

    private static async Task<List<object?[]>> ReadRowsAsync(ISourceSnapshot snapshot, EntitySpec entity) =>
        (await SourceReads.ReadAllAsync(snapshot, entity, Request)).Rows;
}
