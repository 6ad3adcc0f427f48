using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace BulkExport.Exporter.Formats.Zip;

/// <summary>
/// Writes a zip archive sequentially from entries whose compressed bytes, CRC and sizes are already
/// known. ZipArchive cannot do this: our entry names depend on the part count, which is known only
/// after all data has been compressed. Output depends only on the entries and the timestamp, so the
/// same content always gives the same bytes.
/// </summary>
internal sealed class ZipWriter
{
    public const ushort MethodStored = 0;
    public const ushort MethodDeflate = 8;

    private const uint LocalHeaderSignature = 0x04034b50;
    private const uint CentralHeaderSignature = 0x02014b50;
    private const uint EndOfCentralDirectorySignature = 0x06054b50;
    private const uint Zip64EndOfCentralDirectorySignature = 0x06064b50;
    private const uint Zip64LocatorSignature = 0x07064b50;
    private const ushort Zip64ExtraId = 0x0001;
    private const ushort ExtendedTimestampExtraId = 0x5455;
    // Fills a reserved local header (the id zipalign uses for padding; readers skip unknown extras).
    private const ushort PaddingExtraId = 0xD935;
    private const int LocalFixedLength = 30;
    private const int Zip64LocalExtraLength = 20;
    private const int TimestampExtraLength = 9;
    private const int MinPaddingLength = 4;
    private const ushort Utf8NameFlag = 1 << 11;
    private const ushort VersionDefault = 20;
    private const ushort VersionZip64 = 45;
    // Made by Unix, so unzip applies the permission bits below instead of guessing.
    private const ushort MadeByUnix = 3 << 8;
    private const uint RegularFileMode0644 = 0x81A4u << 16;
    private const uint Max32 = uint.MaxValue;
    private const ushort Max16 = ushort.MaxValue;

    private readonly Stream _output;
    private readonly bool _forceZip64;
    private readonly ushort _dosTime;
    private readonly ushort _dosDate;
    private readonly uint _unixTime;
    private readonly List<Entry> _entries = [];
    private long _position;
    private bool _finished;

    /// <param name="output">Written strictly forward; need not be seekable.</param>
    /// <param name="timestamp">Modification time of every entry.</param>
    /// <param name="forceZip64">Write Zip64 records even for small archives (tests exercise that path without 4 GiB of data).</param>
    /// <param name="startPosition">Offset of <paramref name="output"/>'s current position in the archive, when entries were written before (<see cref="AddWrittenEntry"/>).</param>
    public ZipWriter(Stream output, DateTimeOffset timestamp, bool forceZip64 = false, long startPosition = 0)
    {
        _output = output;
        _position = startPosition;
        _forceZip64 = forceZip64;
        (_dosDate, _dosTime) = ToDos(timestamp.UtcDateTime);
        _unixTime = (uint)Math.Clamp(timestamp.ToUnixTimeSeconds(), 0, uint.MaxValue);
    }

    public long Position => _position;

    /// <summary>Adds an entry whose data is <paramref name="compressedSize"/> bytes read from <paramref name="compressedData"/>.</summary>
    public void AddEntry(string name, Stream compressedData, long compressedSize, long uncompressedSize, uint crc, ushort method)
    {
        var entry = BeginEntry(name, compressedSize, uncompressedSize, crc, method);
        var buffer = new byte[Math.Min(1 << 20, Math.Max(compressedSize, 1))];
        var remaining = compressedSize;
        while (remaining > 0)
        {
            var read = compressedData.Read(buffer, 0, (int)Math.Min(buffer.Length, remaining));
            if (read == 0)
            {
                throw new EndOfStreamException($"Compressed data of zip entry '{name}' ended {remaining} bytes early.");
            }

            Write(buffer.AsSpan(0, read));
            remaining -= read;
        }

        _entries.Add(entry);
    }

    /// <summary>
    /// Room a local header needs for any name up to <paramref name="maxNameBytes"/> UTF-8 bytes and any
    /// sizes: entry data can then be streamed into an archive at this offset before the name is known,
    /// and the header written over the gap afterwards (<see cref="WriteReservedLocalHeader"/>).
    /// </summary>
    public static int ReservedLocalHeaderLength(int maxNameBytes) =>
        LocalFixedLength + maxNameBytes + Zip64LocalExtraLength + TimestampExtraLength + MinPaddingLength;

    /// <summary>
    /// Writes the local header of an entry whose data follows a gap of exactly <paramref name="destination"/>'s
    /// length, filling what the name and sizes do not use with a padding extra field.
    /// </summary>
    public void WriteReservedLocalHeader(Span<byte> destination, string name, long compressedSize, long uncompressedSize, uint crc, ushort method)
    {
        var nameBytes = NameBytes(name);
        var zip64 = _forceZip64 || compressedSize >= Max32 || uncompressedSize >= Max32;
        var used = LocalFixedLength + nameBytes.Length + (zip64 ? Zip64LocalExtraLength : 0) + TimestampExtraLength;
        var padding = destination.Length - used;
        if (padding < MinPaddingLength || padding - 4 > Max16)
        {
            throw new InvalidOperationException($"Zip entry name '{name}' does not fit the {destination.Length} bytes reserved for its local header.");
        }

        destination.Clear();
        var at = WriteLocalHeader(destination, nameBytes, compressedSize, uncompressedSize, crc, method, zip64, padding);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[at..], PaddingExtraId);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[(at + 2)..], (ushort)(padding - 4));
    }

    /// <summary>Records, for the central directory, an entry already in the archive at <paramref name="localHeaderOffset"/> (written with <see cref="WriteReservedLocalHeader"/>).</summary>
    public void AddWrittenEntry(string name, long localHeaderOffset, long compressedSize, long uncompressedSize, uint crc, ushort method)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _entries.Add(new Entry(NameBytes(name), localHeaderOffset, compressedSize, uncompressedSize, crc, method));
    }

    /// <summary>Deflates a small in-memory file (e.g. the CSV's DDL) and adds it.</summary>
    public void AddEntry(string name, ReadOnlySpan<byte> content)
    {
        var crc = Crc32.Compute(content);
        using var compressed = new MemoryStream();
        using (var deflate = new DeflateStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(content);
        }

        var bytes = compressed.GetBuffer().AsSpan(0, (int)compressed.Length);
        var method = MethodDeflate;
        if (content.IsEmpty || bytes.Length >= content.Length)
        {
            bytes = content.ToArray();
            method = MethodStored;
        }

        var entry = BeginEntry(name, bytes.Length, content.Length, crc, method);
        Write(bytes);
        _entries.Add(entry);
    }

    /// <summary>Writes the central directory and end records. The stream is left open.</summary>
    public void Finish()
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _finished = true;
        var centralStart = _position;
        foreach (var entry in _entries)
        {
            WriteCentralHeader(entry);
        }

        var centralSize = _position - centralStart;
        var zip64 = _forceZip64 || _entries.Count >= Max16 || centralStart >= Max32 || centralSize >= Max32;
        if (zip64)
        {
            var zip64EndOffset = _position;
            Span<byte> end64 = stackalloc byte[56];
            BinaryPrimitives.WriteUInt32LittleEndian(end64, Zip64EndOfCentralDirectorySignature);
            BinaryPrimitives.WriteUInt64LittleEndian(end64[4..], 44); // size of the rest of this record
            BinaryPrimitives.WriteUInt16LittleEndian(end64[12..], (ushort)(MadeByUnix | VersionZip64));
            BinaryPrimitives.WriteUInt16LittleEndian(end64[14..], VersionZip64);
            BinaryPrimitives.WriteUInt32LittleEndian(end64[16..], 0); // this disk
            BinaryPrimitives.WriteUInt32LittleEndian(end64[20..], 0); // disk with the central directory
            BinaryPrimitives.WriteUInt64LittleEndian(end64[24..], (ulong)_entries.Count);
            BinaryPrimitives.WriteUInt64LittleEndian(end64[32..], (ulong)_entries.Count);
            BinaryPrimitives.WriteUInt64LittleEndian(end64[40..], (ulong)centralSize);
            BinaryPrimitives.WriteUInt64LittleEndian(end64[48..], (ulong)centralStart);
            Write(end64);

            Span<byte> locator = stackalloc byte[20];
            BinaryPrimitives.WriteUInt32LittleEndian(locator, Zip64LocatorSignature);
            BinaryPrimitives.WriteUInt32LittleEndian(locator[4..], 0);
            BinaryPrimitives.WriteUInt64LittleEndian(locator[8..], (ulong)zip64EndOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(locator[16..], 1); // total disks
            Write(locator);
        }

        Span<byte> end = stackalloc byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(end, EndOfCentralDirectorySignature);
        BinaryPrimitives.WriteUInt16LittleEndian(end[4..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(end[6..], 0);
        var count16 = zip64 ? Max16 : (ushort)_entries.Count;
        BinaryPrimitives.WriteUInt16LittleEndian(end[8..], count16);
        BinaryPrimitives.WriteUInt16LittleEndian(end[10..], count16);
        BinaryPrimitives.WriteUInt32LittleEndian(end[12..], zip64 ? Max32 : (uint)centralSize);
        BinaryPrimitives.WriteUInt32LittleEndian(end[16..], zip64 ? Max32 : (uint)centralStart);
        BinaryPrimitives.WriteUInt16LittleEndian(end[20..], 0); // comment length
        Write(end);
    }

    private Entry BeginEntry(string name, long compressedSize, long uncompressedSize, uint crc, ushort method)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        ArgumentOutOfRangeException.ThrowIfNegative(compressedSize);
        ArgumentOutOfRangeException.ThrowIfNegative(uncompressedSize);
        var nameBytes = NameBytes(name);
        var entry = new Entry(nameBytes, _position, compressedSize, uncompressedSize, crc, method);
        // The local header always carries both sizes in Zip64 form when either needs it, as the
        // spec requires; readers then never depend on the central directory to find the data.
        var zip64 = _forceZip64 || compressedSize >= Max32 || uncompressedSize >= Max32;
        var header = new byte[LocalFixedLength + nameBytes.Length + Zip64LocalExtraLength + TimestampExtraLength];
        var length = WriteLocalHeader(header, nameBytes, compressedSize, uncompressedSize, crc, method, zip64, padding: 0);
        Write(header.AsSpan(0, length));
        return entry;
    }

    private static byte[] NameBytes(string name)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length is 0 or > Max16)
        {
            throw new ArgumentException($"Zip entry name must be 1..65535 UTF-8 bytes: '{name}'.", nameof(name));
        }

        return nameBytes;
    }

    /// <returns>Bytes written: the header, name and extras except <paramref name="padding"/>, which the caller fills.</returns>
    private int WriteLocalHeader(Span<byte> header, byte[] nameBytes, long compressedSize, long uncompressedSize, uint crc, ushort method, bool zip64, int padding)
    {
        var extraLength = (zip64 ? Zip64LocalExtraLength : 0) + TimestampExtraLength + padding;
        BinaryPrimitives.WriteUInt32LittleEndian(header, LocalHeaderSignature);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], zip64 ? VersionZip64 : VersionDefault);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], Utf8NameFlag);
        BinaryPrimitives.WriteUInt16LittleEndian(header[8..], method);
        BinaryPrimitives.WriteUInt16LittleEndian(header[10..], _dosTime);
        BinaryPrimitives.WriteUInt16LittleEndian(header[12..], _dosDate);
        BinaryPrimitives.WriteUInt32LittleEndian(header[14..], crc);
        BinaryPrimitives.WriteUInt32LittleEndian(header[18..], zip64 ? Max32 : (uint)compressedSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[22..], zip64 ? Max32 : (uint)uncompressedSize);
        BinaryPrimitives.WriteUInt16LittleEndian(header[26..], (ushort)nameBytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(header[28..], (ushort)extraLength);
        nameBytes.CopyTo(header[LocalFixedLength..]);
        var extra = header[(LocalFixedLength + nameBytes.Length)..];
        var at = 0;
        if (zip64)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(extra, Zip64ExtraId);
            BinaryPrimitives.WriteUInt16LittleEndian(extra[2..], 16);
            BinaryPrimitives.WriteUInt64LittleEndian(extra[4..], (ulong)uncompressedSize);
            BinaryPrimitives.WriteUInt64LittleEndian(extra[12..], (ulong)compressedSize);
            at = Zip64LocalExtraLength;
        }

        WriteTimestampExtra(extra[at..]);
        return LocalFixedLength + nameBytes.Length + at + TimestampExtraLength;
    }

    private void WriteCentralHeader(Entry entry)
    {
        var bigUncompressed = _forceZip64 || entry.UncompressedSize >= Max32;
        var bigCompressed = _forceZip64 || entry.CompressedSize >= Max32;
        var bigOffset = _forceZip64 || entry.LocalHeaderOffset >= Max32;
        var zip64Fields = (bigUncompressed ? 1 : 0) + (bigCompressed ? 1 : 0) + (bigOffset ? 1 : 0);
        var zip64 = zip64Fields > 0;
        var extraLength = (zip64 ? 4 + (8 * zip64Fields) : 0) + 9;
        Span<byte> header = stackalloc byte[46 + 28 + 9];
        var version = zip64 ? VersionZip64 : VersionDefault;
        BinaryPrimitives.WriteUInt32LittleEndian(header, CentralHeaderSignature);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], (ushort)(MadeByUnix | version));
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], version);
        BinaryPrimitives.WriteUInt16LittleEndian(header[8..], Utf8NameFlag);
        BinaryPrimitives.WriteUInt16LittleEndian(header[10..], entry.Method);
        BinaryPrimitives.WriteUInt16LittleEndian(header[12..], _dosTime);
        BinaryPrimitives.WriteUInt16LittleEndian(header[14..], _dosDate);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], entry.Crc);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], bigCompressed ? Max32 : (uint)entry.CompressedSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[24..], bigUncompressed ? Max32 : (uint)entry.UncompressedSize);
        BinaryPrimitives.WriteUInt16LittleEndian(header[28..], (ushort)entry.Name.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(header[30..], (ushort)extraLength);
        BinaryPrimitives.WriteUInt16LittleEndian(header[32..], 0); // comment length
        BinaryPrimitives.WriteUInt16LittleEndian(header[34..], 0); // disk number start
        BinaryPrimitives.WriteUInt16LittleEndian(header[36..], 0); // internal attributes
        BinaryPrimitives.WriteUInt32LittleEndian(header[38..], RegularFileMode0644);
        BinaryPrimitives.WriteUInt32LittleEndian(header[42..], bigOffset ? Max32 : (uint)entry.LocalHeaderOffset);
        Write(header[..46]);
        Write(entry.Name);
        var extra = header[46..];
        var at = 0;
        if (zip64)
        {
            // Only the fields saturated above appear, in this fixed order (APPNOTE 4.5.3).
            BinaryPrimitives.WriteUInt16LittleEndian(extra, Zip64ExtraId);
            BinaryPrimitives.WriteUInt16LittleEndian(extra[2..], (ushort)(8 * zip64Fields));
            at = 4;
            if (bigUncompressed)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(extra[at..], (ulong)entry.UncompressedSize);
                at += 8;
            }

            if (bigCompressed)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(extra[at..], (ulong)entry.CompressedSize);
                at += 8;
            }

            if (bigOffset)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(extra[at..], (ulong)entry.LocalHeaderOffset);
                at += 8;
            }
        }

        WriteTimestampExtra(extra[at..]);
        Write(extra[..extraLength]);
    }

    // DOS time has no zone and 2-second resolution; the Info-ZIP extended timestamp keeps the exact
    // UTC second, so unzip shows the right time wherever it runs.
    private void WriteTimestampExtra(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, ExtendedTimestampExtraId);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], 5);
        destination[4] = 1; // modification time present
        BinaryPrimitives.WriteUInt32LittleEndian(destination[5..], _unixTime);
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        _output.Write(bytes);
        _position += bytes.Length;
    }

    internal static (ushort Date, ushort Time) ToDos(DateTime utc)
    {
        if (utc.Year < 1980)
        {
            return ((1 << 5) | 1, 0);
        }

        if (utc.Year > 2107)
        {
            return ((127 << 9) | (12 << 5) | 31, (23 << 11) | (59 << 5) | 29);
        }

        var date = (ushort)(((utc.Year - 1980) << 9) | (utc.Month << 5) | utc.Day);
        var time = (ushort)((utc.Hour << 11) | (utc.Minute << 5) | (utc.Second / 2));
        return (date, time);
    }

    private sealed record Entry(byte[] Name, long LocalHeaderOffset, long CompressedSize, long UncompressedSize, uint Crc, ushort Method);
}
