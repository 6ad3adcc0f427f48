using Microsoft.Win32.SafeHandles;

namespace BulkExport.Exporter.Sources.Files;

/// <summary>
/// A sliding window over a file read at explicit offsets, so several readers (the inference pass, the
/// row pass, other runs over the same entity) share one snapshot handle without sharing a position.
/// </summary>
/// <param name="handle">The snapshot's handle.</param>
/// <param name="start">Where to start reading (a byte order mark is skipped only at 0).</param>
/// <param name="end">Where to stop: the file's end unless a range of it is read.</param>
internal sealed class FileChunkReader(SafeFileHandle handle, long start = 0, long end = long.MaxValue)
{
    // Large reads: fewer system calls and thread-pool hops per file (RandomAccess on a synchronous handle).
    private const int InitialSize = 1024 * 1024;

    private byte[] _buffer = new byte[InitialSize];
    private int _start;
    private int _end;
    private readonly bool _atFileStart = start == 0;
    private long _fileOffset = start;
    private bool _eof;
    private bool _started;

    public byte[] Buffer => _buffer;

    public int Start => _start;

    public int Length => _end - _start;

    public bool IsEof => _eof;

    public ReadOnlySpan<byte> Available => _buffer.AsSpan(_start, _end - _start);

    public void Consume(int count) => _start += count;

    /// <summary>Reads more of the file behind what is available (growing the window if it is full). False at the end.</summary>
    public async ValueTask<bool> ReadMoreAsync(CancellationToken cancellationToken)
    {
        if (_eof)
        {
            return false;
        }

        if (_start > 0)
        {
            System.Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        var room = (int)Math.Min(_buffer.Length - _end, end - _fileOffset);
        var read = room <= 0 ? 0 : await RandomAccess.ReadAsync(handle, _buffer.AsMemory(_end, room), _fileOffset, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            _eof = true;
            return false;
        }

        _fileOffset += read;
        _end += read;
        if (!_started)
        {
            _started = true;
            if (_atFileStart && _buffer.AsSpan(0, _end).StartsWith("\uFEFF"u8))
            {
                _start = 3;
            }
        }

        return true;
    }

    /// <summary>Releases a window that one huge line grew, once the window holds little again.</summary>
    public void Trim()
    {
        if (_buffer.Length > InitialSize * 4 && _end - _start <= InitialSize / 2)
        {
            var smaller = new byte[InitialSize];
            _buffer.AsSpan(_start, _end - _start).CopyTo(smaller);
            _end -= _start;
            _start = 0;
            _buffer = smaller;
        }
    }
}
