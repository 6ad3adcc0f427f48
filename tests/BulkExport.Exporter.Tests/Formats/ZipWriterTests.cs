using System.IO.Compression;
using System.Text;
using BulkExport.Exporter.Formats.Zip;

namespace BulkExport.Exporter.Tests.Formats;

public sealed class ZipWriterTests
{
    private static readonly DateTimeOffset Timestamp = new(2025, 6, 7, 8, 9, 10, TimeSpan.Zero);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Zip_WithPrecompressedAndSmallEntries_OpensWithZipArchiveAndUnzip(bool forceZip64)
    {
        using var temp = new TempDirectory();
        var data = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"vej\":\"Ærøvej\"}\n", 5000)));
        var path = Path.Combine(temp.Path, "a.zip");
        WriteZip(path, data, forceZip64, "Ærø_data.json");

        var entries = FormatTestData.ReadZip(path);
        Assert.Equal(data, entries["Ærø_data.json"]);
        Assert.Equal("CREATE TABLE x ();\n", Encoding.UTF8.GetString(entries["Ærø_data.sql"]));
        Assert.Empty(entries["empty.txt"]);

        var output = FormatTestData.UnzipTest(path);
        Assert.Contains("No errors detected", output, StringComparison.Ordinal);
        Assert.Contains("Ærø_data.json", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Zip_EntryTimestamp_IsTheGivenInstantInUtc()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "t.zip");
        WriteZip(path, [1, 2, 3], forceZip64: false, "t.bin");

        using var archive = ZipFile.OpenRead(path);
        var entry = archive.GetEntry("t.bin")!;
        // ZipArchive reads the DOS fields (2-second resolution, no zone), which we write in UTC.
        Assert.Equal(new DateTime(2025, 6, 7, 8, 9, 10), entry.LastWriteTime.DateTime);
    }

    [Fact]
    public void Zip_SameInput_GivesIdenticalBytes()
    {
        using var temp = new TempDirectory();
        var data = Encoding.UTF8.GetBytes("same");
        WriteZip(Path.Combine(temp.Path, "1.zip"), data, false, "x.json");
        WriteZip(Path.Combine(temp.Path, "2.zip"), data, false, "x.json");
        Assert.Equal(File.ReadAllBytes(Path.Combine(temp.Path, "1.zip")), File.ReadAllBytes(Path.Combine(temp.Path, "2.zip")));
    }

    [Fact]
    public void Zip_ForcedZip64_HasZip64EndRecordAndLocator()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "z64.zip");
        WriteZip(path, [42], forceZip64: true, "a");
        var bytes = File.ReadAllBytes(path);
        Assert.True(IndexOf(bytes, [0x50, 0x4b, 0x06, 0x06]) > 0, "no Zip64 end of central directory record");
        Assert.True(IndexOf(bytes, [0x50, 0x4b, 0x06, 0x07]) > 0, "no Zip64 end of central directory locator");
    }

    [Fact]
    public void Zip_EntryCountAboveDosLimit_UsesZip64AndListsEveryEntry()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "many.zip");
        const int count = 65_540;
        using (var file = File.Create(path))
        {
            var zip = new ZipWriter(file, Timestamp);
            for (var i = 0; i < count; i++)
            {
                zip.AddEntry($"e{i}", ReadOnlySpan<byte>.Empty);
            }

            zip.Finish();
        }

        using var archive = ZipFile.OpenRead(path);
        Assert.Equal(count, archive.Entries.Count);
        FormatTestData.UnzipTest(path);
    }

    [Theory]
    [InlineData(1970, 1, 1, 0, 0, 0, 0x0021, 0x0000)] // before DOS epoch: clamped to 1980-01-01
    [InlineData(2025, 6, 7, 8, 9, 11, (45 << 9) | (6 << 5) | 7, (8 << 11) | (9 << 5) | 5)]
    public void ToDos_ConvertsOrClamps(int y, int mo, int d, int h, int mi, int s, int expectedDate, int expectedTime)
    {
        var (date, time) = ZipWriter.ToDos(new DateTime(y, mo, d, h, mi, s, DateTimeKind.Utc));
        Assert.Equal(expectedDate, date);
        Assert.Equal(expectedTime, time);
    }

    private static void WriteZip(string path, byte[] data, bool forceZip64, string dataName)
    {
        var compressed = new MemoryStream();
        using (var deflate = new DeflateStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            deflate.Write(data);
        }

        compressed.Position = 0;
        using var file = File.Create(path);
        var zip = new ZipWriter(file, Timestamp, forceZip64);
        zip.AddEntry(dataName, compressed, compressed.Length, data.Length, Crc32.Compute(data), ZipWriter.MethodDeflate);
        zip.AddEntry(Path.ChangeExtension(dataName, ".sql"), "CREATE TABLE x ();\n"u8);
        zip.AddEntry("empty.txt", ReadOnlySpan<byte>.Empty);
        zip.Finish();
    }

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);
}

/// <summary>
/// Real Zip64 sizes and offsets without 4 GiB on disk: the data is synthetic and only the archive's
/// tail (central directory and end records) is kept and parsed.
/// </summary>
public sealed class ZipWriterLargeEntryTests
{
    [Fact]
    public void Zip_EntryAbove4GiB_RecordsSizesAndNextOffsetInZip64Fields()
    {
        const long compressed = 0x1_0000_1000L;
        const long uncompressed = 0x2_0000_0000L;
        var tail = new TailStream(4096);
        var zip = new ZipWriter(tail, DateTimeOffset.UnixEpoch.AddYears(20));
        zip.AddEntry("big.json", new ZeroStream(), compressed, uncompressed, 0x12345678u, ZipWriter.MethodDeflate);
        var secondOffset = zip.Position;
        zip.AddEntry("big.sql", "CREATE TABLE t ();\n"u8);
        zip.Finish();

        var bytes = tail.Tail;
        var end = bytes.AsSpan(bytes.Length - 22);
        Assert.Equal(0x06054b50u, BitConverter.ToUInt32(end));
        Assert.Equal(0xFFFFFFFFu, BitConverter.ToUInt32(end[16..])); // central directory offset lives in Zip64

        var locator = bytes.AsSpan(bytes.Length - 22 - 20);
        Assert.Equal(0x07064b50u, BitConverter.ToUInt32(locator));
        var end64Offset = (long)BitConverter.ToUInt64(locator[8..]);
        var end64 = At(tail, end64Offset, 56);
        Assert.Equal(0x06064b50u, BitConverter.ToUInt32(end64));
        Assert.Equal(2UL, BitConverter.ToUInt64(end64[24..]));
        var centralOffset = (long)BitConverter.ToUInt64(end64[48..]);

        var first = At(tail, centralOffset, 46 + 8 + 20 + 9);
        Assert.Equal(0x02014b50u, BitConverter.ToUInt32(first));
        Assert.Equal(0x12345678u, BitConverter.ToUInt32(first[16..]));
        Assert.Equal(0xFFFFFFFFu, BitConverter.ToUInt32(first[20..]));
        Assert.Equal(0xFFFFFFFFu, BitConverter.ToUInt32(first[24..]));
        Assert.Equal(0u, BitConverter.ToUInt32(first[42..])); // offset 0 fits: not in the extra
        var extra = first[(46 + 8)..];
        Assert.Equal((ushort)1, BitConverter.ToUInt16(extra));
        Assert.Equal((ushort)16, BitConverter.ToUInt16(extra[2..]));
        Assert.Equal((ulong)uncompressed, BitConverter.ToUInt64(extra[4..]));
        Assert.Equal((ulong)compressed, BitConverter.ToUInt64(extra[12..]));

        var secondLength = 46 + 7 + 9 + 12 + 9;
        var second = At(tail, centralOffset + 46 + 8 + 20 + 9, secondLength);
        Assert.Equal(0x02014b50u, BitConverter.ToUInt32(second));
        Assert.Equal(0xFFFFFFFFu, BitConverter.ToUInt32(second[42..]));
        var secondExtra = second[(46 + 7)..];
        Assert.Equal((ushort)1, BitConverter.ToUInt16(secondExtra));
        Assert.Equal((ushort)8, BitConverter.ToUInt16(secondExtra[2..]));
        Assert.Equal((ulong)secondOffset, BitConverter.ToUInt64(secondExtra[4..]));
    }

    private static ReadOnlySpan<byte> At(TailStream tail, long offset, int length) =>
        tail.Tail.AsSpan((int)(offset - (tail.Length - tail.Tail.Length)), length);

    private sealed class ZeroStream : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            // The buffer is reused and never written by us, so it is already zeros after the first call.
            return count;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Counts everything written and keeps only the last bytes.</summary>
    private sealed class TailStream(int keep) : Stream
    {
        private readonly byte[] _ring = new byte[keep];
        private long _length;

        public byte[] Tail
        {
            get
            {
                var count = (int)Math.Min(_length, _ring.Length);
                var result = new byte[count];
                for (var i = 0; i < count; i++)
                {
                    result[i] = _ring[(_length - count + i) % _ring.Length];
                }

                return result;
            }
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position { get => _length; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (buffer.Length >= _ring.Length)
            {
                _length += buffer.Length - _ring.Length;
                buffer = buffer[^_ring.Length..];
            }

            foreach (var b in buffer)
            {
                _ring[_length % _ring.Length] = b;
                _length++;
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
