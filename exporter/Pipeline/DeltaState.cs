using BulkExport.Publishing.Sorting;
using System.Buffers;
using System.IO.Compression;
using System.Security.Cryptography;

namespace BulkExport.Exporter.Pipeline;

/// <summary>
/// The identity + row-hash state of an entity at one generation, sorted by identity: the base the next
/// generation's delta is computed against. Stored compressed beside the data; a trailer with the
/// record count makes a truncated file an error rather than a silent "everything was deleted".
/// </summary>
internal static class DeltaStateFormat
{
    public static readonly byte[] Magic = "BXSTATE2"u8.ToArray();
}

internal sealed class DeltaStateWriter : IDisposable
{
    private readonly FileStream _file;
    private readonly DeflateStream _deflate;
    private readonly BufferedStream _output;
    private readonly ArrayBufferWriter<byte> _scratch = new(64);
    private bool _completed;

    public DeltaStateWriter(string path)
    {
        Path = path;
        _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        _deflate = new DeflateStream(_file, CompressionLevel.Fastest, leaveOpen: true);
        _output = new BufferedStream(_deflate, 1 << 16);
        _output.Write(DeltaStateFormat.Magic);
    }

    public string Path { get; }

    public long Count { get; private set; }

    public void Write(ReadOnlySpan<byte> key, ReadOnlySpan<byte> hash)
    {
        _scratch.ResetWrittenCount();
        RowCodec.WriteVarint(_scratch, (ulong)key.Length);
        _output.Write(_scratch.WrittenSpan);
        _output.Write(key);
        _output.Write(hash[..ExternalSorter.HashLength]);
        Count++;
    }

    /// <summary>Finishes the file; returns its size and SHA-256.</summary>
    public (long Size, string Sha256) Complete()
    {
        _scratch.ResetWrittenCount();
        RowCodec.WriteVarint(_scratch, 0);
        RowCodec.WriteVarint(_scratch, (ulong)Count);
        _output.Write(_scratch.WrittenSpan);
        _output.Flush();
        _deflate.Dispose();
        _file.Flush(flushToDisk: true);
        _file.Position = 0;
        var sha = Convert.ToHexStringLower(SHA256.HashData(_file));
        var size = _file.Length;
        _file.Dispose();
        _completed = true;
        return (size, sha);
    }

    public void Dispose()
    {
        if (!_completed)
        {
            _output.Dispose();
            _deflate.Dispose();
            _file.Dispose();
            File.Delete(Path);
        }
    }
}

internal sealed class DeltaStateReader : IDisposable
{
    private readonly Stream _input;
    private long _read;

    private DeltaStateReader(Stream input)
    {
        _input = input;
        Span<byte> magic = stackalloc byte[8];
        _input.ReadExactly(magic);
        if (!magic.SequenceEqual(DeltaStateFormat.Magic))
        {
            throw new InvalidDataException("not a delta state file");
        }

    }

    public static DeltaStateReader Open(string path) =>
        new(new BufferedStream(new DeflateStream(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan), CompressionMode.Decompress), 1 << 16));

    /// <summary>Reads a state file that has no records (the base of an entity's first delta).</summary>
    public static DeltaStateReader Empty() => new(new MemoryStream([.. DeltaStateFormat.Magic, 0, 0]));

    public byte[] Key { get; private set; } = [];

    public byte[] Hash { get; private set; } = new byte[ExternalSorter.HashLength];

    public bool HasCurrent { get; private set; }

    public bool MoveNext()
    {
        var keyLength = ReadVarint();
        if (keyLength == 0)
        {
            var count = ReadVarint();
            if (count != _read)
            {
                throw new InvalidDataException($"delta state is damaged: trailer says {count} records, read {_read}");
            }

            HasCurrent = false;
            return false;
        }

        Key = new byte[keyLength];
        _input.ReadExactly(Key);
        Hash = new byte[ExternalSorter.HashLength];
        _input.ReadExactly(Hash);
        _read++;
        HasCurrent = true;
        return true;
    }

    private long ReadVarint()
    {
        long value = 0;
        var shift = 0;
        while (true)
        {
            var b = _input.ReadByte();
            if (b < 0)
            {
                throw new InvalidDataException($"delta state is truncated after {_read} records");
            }

            value |= (long)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }

            shift += 7;
        }
    }

    public void Dispose() => _input.Dispose();
}
