using System.Buffers;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// A growable byte buffer that, unlike <see cref="ArrayBufferWriter{T}"/>, can take back what was
/// written after a mark: the part splitter encodes a record first and withdraws it if it does not fit.
/// </summary>
internal sealed class ByteBuffer(int initialCapacity) : IBufferWriter<byte>
{
    private byte[] _buffer = new byte[initialCapacity];
    private int _count;

    public int Count => _count;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _count);

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (_count + count > _buffer.Length)
        {
            throw new InvalidOperationException("Advanced past the buffer's end.");
        }

        _count += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_count);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_count);
    }

    public void Truncate(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _count);
        _count = count;
    }

    public void Clear() => _count = 0;

    /// <summary>Drops a buffer that one huge record grew, so it is not held for the rest of the run.</summary>
    public void Shrink(int capacity)
    {
        if (_count == 0 && _buffer.Length > capacity)
        {
            _buffer = new byte[capacity];
        }
    }

    private void Ensure(int sizeHint)
    {
        var needed = Math.Max(sizeHint, 1);
        if (_buffer.Length - _count >= needed)
        {
            return;
        }

        var size = Math.Max((long)_buffer.Length * 2, (long)_count + needed);
        if (size > Array.MaxLength)
        {
            size = Math.Max(Array.MaxLength, _count + needed);
        }

        Array.Resize(ref _buffer, (int)size);
    }
}
