using BulkExport.Publishing.Sorting;
using System.Buffers;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Pipeline;

public sealed class DeltaMachineryTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("delta-").FullName;

    private static byte[] Key(params object?[] values)
    {
        var buffer = new ArrayBufferWriter<byte>();
        KeyEncoder.Encode(values, Enumerable.Range(0, values.Length).ToArray(), buffer);
        return buffer.WrittenSpan.ToArray();
    }

    [Fact]
    public void KeyEncoding_OrdersIntegersNumerically_AndTextByUtf8Bytes()
    {
        object?[][] keys = [[-5L], [-1L], [0L], [2L], [10L], [long.MaxValue]];
        Assert.Equal(keys.Select(k => (long)k[0]!), keys.OrderBy(Key, Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).Select(k => (long)k[0]!));

        string[] texts = ["a", "a\0", "a\0b", "ab", "b", "Z", "Æ", "å"];
        var byUtf8 = texts.OrderBy(t => System.Text.Encoding.UTF8.GetBytes(t), Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).ToList();
        var byKey = texts.OrderBy(t => Key(t), Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).ToList();
        Assert.Equal(byUtf8, byKey);
    }

    [Fact]
    public void KeyEncoding_DecodesBackToTheValues()
    {
        object?[] values = [42L, "x\0y", Guid.Parse("6f9619ff-8b86-d011-b42d-00c04fc964ff"), new DateOnly(2026, 1, 2), new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), null, true];

        Assert.Equal(values, KeyEncoder.Decode(Key(values), values.Length));
    }

    [Fact]
    public void KeyEncoding_OrdersFloatsNumerically_AndDecodesFloatsBytesAndDecimalsToTheirKinds()
    {
        double[] floats = [double.NegativeInfinity, -1e300, -2.5, -0.0, 0.0, 1e-300, 0.5, 3.0, 1e300, double.PositiveInfinity];
        var comparer = Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b));
        Assert.Equal(floats, floats.Reverse().OrderBy(f => Key(f), comparer));

        // Tombstones carry these values into formats that need the column's own CLR type
        // (a float key once came back as text and failed every later run).
        object?[] values = [-2.5, 1e300, new byte[] { 0, 1, 0xFF }, new byte[] { 0 }, new DecimalText("1.50")];
        var back = KeyEncoder.Decode(Key(values), values.Length);
        Assert.Equal(-2.5, Assert.IsType<double>(back[0]));
        Assert.Equal(1e300, Assert.IsType<double>(back[1]));
        Assert.Equal(new byte[] { 0, 1, 0xFF }, Assert.IsType<byte[]>(back[2]));
        Assert.Equal(new byte[] { 0 }, Assert.IsType<byte[]>(back[3]));
        Assert.Equal(new DecimalText("1.50"), Assert.IsType<DecimalText>(back[4]));
    }

    [Fact]
    public void KeyEncoding_DistinctByteKeys_HaveDistinctEncodings()
    {
        // Every bytea key once encoded as "System.Byte[]" and was reported as a duplicate.
        Assert.NotEqual(Key(new byte[] { 1 }), Key(new byte[] { 2 }));
        Assert.NotEqual(Key(new byte[] { 1 }), Key(new byte[] { 1, 0 }));
    }

    [Fact]
    public void RowCodec_RoundTripsEveryKind()
    {
        object?[] row = [null, "tekst", 7L, new DecimalText("12345678901234567890.123456789"), 1.5, true, new DateOnly(2026, 5, 1),
            new DateTime(2026, 5, 1, 12, 0, 0), new DateTimeOffset(2026, 5, 1, 12, 0, 0, TimeSpan.Zero), Guid.NewGuid(), new RawJson("{\"a\":1}"),
            new byte[] { 1, 2, 3 }, new GeometryValue("{\"type\":\"Point\",\"coordinates\":[1,2]}", "POINT (1 2)", 4326), new object?[] { 1L, "a" }];
        var buffer = new ArrayBufferWriter<byte>();

        RowCodec.Encode(row, buffer);
        var back = RowCodec.Decode(buffer.WrittenSpan);

        Assert.Equal(row.Length, back.Length);
        Assert.Equal(((byte[])row[11]!), (byte[])back[11]!);
        Assert.Equal((object?[])row[13]!, (object?[])back[13]!);
        Assert.Equal(row.Take(11), back.Take(11));
        Assert.Equal(row[12], back[12]);
    }

    [Fact]
    public void ExternalSort_SpillsRunsAndMergesThemInKeyOrder()
    {
        using var sorter = new ExternalSorter(_temp, memoryBudget: 4096);
        var rng = new Random(7);
        var keys = Enumerable.Range(0, 5000).Select(_ => (long)rng.Next()).Distinct().ToList();
        foreach (var k in keys)
        {
            sorter.Add(Key(k), new byte[16], System.Text.Encoding.UTF8.GetBytes($"payload {k}"));
        }

        Assert.True(Directory.EnumerateFiles(_temp, "*.run").Count() > 10);
        var sorted = sorter.ReadSorted().Select(r => (long)KeyEncoder.Decode(r.Key, 1)[0]!).ToList();

        Assert.Equal(keys.Order(), sorted);
    }

    [Fact]
    public void Merger_ClassifiesInsertsUpdatesAndDeletes_AgainstTheBaseState()
    {
        var basePath = Path.Combine(_temp, "base.state");
        using (var writer = new DeltaStateWriter(basePath))
        {
            writer.Write(Key(1L), Hash(1));
            writer.Write(Key(2L), Hash(2));
            writer.Write(Key(4L), Hash(4));
            writer.Complete();
        }

        var sink = new RecordingSink();
        using var baseState = DeltaStateReader.Open(basePath);
        using var newState = new DeltaStateWriter(Path.Combine(_temp, "new.state"));
        var merger = new DeltaMerger(baseState, newState, "E", ["id"], sink);
        var view = new ObjectRowView([new Column("id", ColumnKind.Integer)]);
        merger.Accept(Key(1L), Hash(1), view.Reset([1L]));
        merger.Accept(Key(2L), Hash(99), view.Reset([2L]));
        merger.Accept(Key(3L), Hash(3), view.Reset([3L]));
        merger.Finish();

        Assert.Equal(["insert 3", "update 2", "delete 4"], sink.Events.Order(StringComparer.Ordinal).Reverse().ToList().OrderBy(e => e[0] switch { 'i' => 0, 'u' => 1, _ => 2 }).ToList());
        Assert.Equal(3, newState.Count);
    }

    [Fact]
    public void TruncatedState_IsAnError_NotAnEmptyBase()
    {
        var path = Path.Combine(_temp, "t.state");
        using (var writer = new DeltaStateWriter(path))
        {
            for (var i = 0L; i < 1000; i++)
            {
                writer.Write(Key(i), Hash((int)i));
            }

            writer.Complete();
        }

        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        using var reader = DeltaStateReader.Open(path);
        Assert.ThrowsAny<Exception>(() =>
        {
            while (reader.MoveNext())
            {
            }
        });
    }

    private static byte[] Hash(int seed) => Enumerable.Repeat((byte)seed, 16).ToArray();

    private sealed class RecordingSink : IDeltaSink
    {
        public List<string> Events { get; } = [];

        public void Change(IRowView row, DeltaOperation operation) => Events.Add($"{OutputWriters.OperationName(operation)} {row.GetValue(0)}");

        public void Delete(object?[] keyValues) => Events.Add($"delete {keyValues[0]}");
    }

    public void Dispose() => Directory.Delete(_temp, recursive: true);
}
