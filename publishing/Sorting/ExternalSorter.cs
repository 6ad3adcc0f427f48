using System.Buffers;

namespace BulkExport.Publishing.Sorting;

/// <summary>
/// Sorts (key, hash, payload) records by key with bounded memory: records collect in one buffer up
/// to <c>memoryBudget</c> bytes, each full buffer is sorted and spilled to a run file, and the runs
/// are merged. Shared by the exporter's deltas and the verifier's replay of delta chains.
/// </summary>
internal sealed class ExternalSorter : IDisposable
{
    public const int HashLength = 16;

    private readonly string _tempDirectory;
    private readonly int _memoryBudget;
    private readonly List<string> _runs = [];
    private byte[] _buffer;
    private int _used;
    private readonly List<Entry> _entries = [];

    public ExternalSorter(string tempDirectory, int memoryBudget = 32 << 20)
    {
        _tempDirectory = tempDirectory;
        _memoryBudget = memoryBudget;
        // Grown by doubling up to the budget; each outgrown array is large-object garbage until a
        // full collection, so the first size is a compromise between small sorts and peak memory.
        _buffer = new byte[Math.Min(memoryBudget, 4 << 20)];
    }

    public long Count { get; private set; }

    public void Add(ReadOnlySpan<byte> key, ReadOnlySpan<byte> hash, ReadOnlySpan<byte> payload)
    {
        var size = key.Length + HashLength + payload.Length;
        if (_used + size > _buffer.Length)
        {
            if (_used + size > _memoryBudget && _entries.Count > 0)
            {
                Spill();
            }

            if (_used + size > _buffer.Length)
            {
                Array.Resize(ref _buffer, Math.Max(Math.Min(_memoryBudget, _buffer.Length * 2), _used + size));
            }
        }

        var offset = _used;
        key.CopyTo(_buffer.AsSpan(offset));
        hash[..HashLength].CopyTo(_buffer.AsSpan(offset + key.Length));
        payload.CopyTo(_buffer.AsSpan(offset + key.Length + HashLength));
        _used += size;
        _entries.Add(new Entry(offset, key.Length, payload.Length));
        Count++;
    }

    /// <summary>All records in key order. Call once, after the last <see cref="Add"/>.</summary>
    public IEnumerable<SortedRecord> ReadSorted()
    {
        if (_runs.Count == 0)
        {
            SortEntries();
            foreach (var e in _entries)
            {
                yield return new SortedRecord(
                    _buffer.AsSpan(e.Offset, e.KeyLength).ToArray(),
                    _buffer.AsSpan(e.Offset + e.KeyLength, HashLength).ToArray(),
                    _buffer.AsSpan(e.Offset + e.KeyLength + HashLength, e.PayloadLength).ToArray());
            }

            yield break;
        }

        if (_entries.Count > 0)
        {
            Spill();
        }

        _buffer = [];
        var readers = _runs.Select(r => new RunReader(r)).ToList();
        try
        {
            var queue = new PriorityQueue<RunReader, byte[]>(KeyComparer.Instance);
            foreach (var reader in readers)
            {
                if (reader.MoveNext())
                {
                    queue.Enqueue(reader, reader.Current.Key);
                }
            }

            while (queue.TryDequeue(out var reader, out _))
            {
                yield return reader.Current;
                if (reader.MoveNext())
                {
                    queue.Enqueue(reader, reader.Current.Key);
                }
            }
        }
        finally
        {
            foreach (var reader in readers)
            {
                reader.Dispose();
            }
        }
    }

    private void SortEntries()
    {
        var buffer = _buffer;
        _entries.Sort((a, b) => buffer.AsSpan(a.Offset, a.KeyLength).SequenceCompareTo(buffer.AsSpan(b.Offset, b.KeyLength)));
    }

    private void Spill()
    {
        SortEntries();
        var path = Path.Combine(_tempDirectory, $"sort-{Guid.NewGuid():N}.run");
        using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
        {
            var header = new ArrayBufferWriter<byte>(16);
            foreach (var e in _entries)
            {
                header.ResetWrittenCount();
                WriteVarint(header, (uint)e.KeyLength);
                WriteVarint(header, (uint)e.PayloadLength);
                stream.Write(header.WrittenSpan);
                stream.Write(_buffer, e.Offset, e.KeyLength + HashLength + e.PayloadLength);
            }
        }

        _runs.Add(path);
        _entries.Clear();
        _used = 0;
    }

    private static void WriteVarint(ArrayBufferWriter<byte> output, uint value)
    {
        while (value >= 0x80)
        {
            output.Write([(byte)(value | 0x80)]);
            value >>= 7;
        }

        output.Write([(byte)value]);
    }

    public void Dispose()
    {
        foreach (var run in _runs)
        {
            File.Delete(run);
        }

        _runs.Clear();
    }

    private readonly record struct Entry(int Offset, int KeyLength, int PayloadLength);

    private sealed class RunReader(string path) : IDisposable
    {
        private readonly BufferedStream _stream = new(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan), 1 << 16);

        public SortedRecord Current { get; private set; }

        public bool MoveNext()
        {
            var keyLength = ReadVarint();
            if (keyLength < 0)
            {
                return false;
            }

            var payloadLength = ReadVarint();
            var key = new byte[keyLength];
            var hash = new byte[HashLength];
            var payload = new byte[payloadLength];
            _stream.ReadExactly(key);
            _stream.ReadExactly(hash);
            _stream.ReadExactly(payload);
            Current = new SortedRecord(key, hash, payload);
            return true;
        }

        private int ReadVarint()
        {
            var value = 0;
            var shift = 0;
            while (true)
            {
                var b = _stream.ReadByte();
                if (b < 0)
                {
                    return shift == 0 ? -1 : throw new InvalidDataException("truncated sort run");
                }

                value |= (b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }

                shift += 7;
            }
        }

        public void Dispose() => _stream.Dispose();
    }
}

internal readonly record struct SortedRecord(byte[] Key, byte[] Hash, byte[] Payload);

internal sealed class KeyComparer : IComparer<byte[]>
{
    public static readonly KeyComparer Instance = new();

    public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
}
