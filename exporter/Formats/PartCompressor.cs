using System.Collections.Concurrent;
using System.IO.Compression;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using BulkExport.Exporter.Formats.Zip;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// Deflates, CRCs and hashes encoded bytes on a worker thread while the caller encodes the next
/// chunk: deflate costs about as much as encoding, so this nearly halves a writer's wall time. A
/// fixed pool of buffers is the back-pressure, so memory stays bounded however far encoding runs ahead.
/// </summary>
internal sealed class PartCompressor : IDisposable
{
    // zlib level 1, what gzip -1 uses (zlib-ng's CompressionLevel.Fastest is the same level; this
    // spelling cannot silently change meaning with a runtime update).
    internal static readonly ZLibCompressionOptions Compression = new() { CompressionLevel = 1 };

    private readonly BlockingCollection<Job> _jobs = new(boundedCapacity: 4);
    private readonly BlockingCollection<ByteBuffer> _free = new();
    private readonly IncrementalHash _contentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly List<CompressedPart> _parts = [];
    private readonly int _bufferSize;
    private readonly Thread _thread;
    private Exception? _error;
    // Worker-side state of the open part.
    private FileStream? _file;
    private DeflateStream? _deflate;
    private Crc32 _crc;
    private long _uncompressed;
    private string _path = "";
    private bool _joined;

    /// <param name="bufferCount">Buffers in rotation, including the one the caller fills.</param>
    /// <param name="bufferSize">Initial capacity of each buffer.</param>
    public PartCompressor(int bufferCount, int bufferSize)
    {
        _bufferSize = bufferSize;
        for (var i = 0; i < bufferCount - 1; i++)
        {
            _free.Add(new ByteBuffer(bufferSize));
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "bulkexport-deflate" };
        _thread.Start();
    }

    /// <summary>Starts a part whose compressed bytes go to <paramref name="file"/>; the compressor owns the stream from here on.</summary>
    public void StartPart(string path, FileStream file)
    {
        ThrowIfFailed();
        _jobs.Add(new Job(JobKind.Start, path, file, null, 0));
    }

    /// <summary>Queues the filled buffer and returns an empty one, waiting while the worker is behind.</summary>
    public ByteBuffer Submit(ByteBuffer filled)
    {
        ThrowIfFailed();
        _jobs.Add(new Job(JobKind.Data, null, null, filled, 0));
        return _free.Take();
    }

    public void EndPart(long records)
    {
        ThrowIfFailed();
        _jobs.Add(new Job(JobKind.End, null, null, null, records));
    }

    /// <summary>Waits for everything queued, then returns the parts in order and the SHA-256 of all data.</summary>
    public (IReadOnlyList<CompressedPart> Parts, string ContentSha256) Finish()
    {
        Join();
        ThrowIfFailed();
        return (_parts, Convert.ToHexStringLower(_contentHash.GetHashAndReset()));
    }

    public void Dispose()
    {
        Join();
        CloseOpenPart();
        _jobs.Dispose();
        _free.Dispose();
        _contentHash.Dispose();
    }

    private void Join()
    {
        if (_joined)
        {
            return;
        }

        _joined = true;
        _jobs.CompleteAdding();
        _thread.Join();
    }

    private void ThrowIfFailed()
    {
        var error = Volatile.Read(ref _error);
        if (error is not null)
        {
            ExceptionDispatchInfo.Throw(error);
        }
    }

    private void Run()
    {
        foreach (var job in _jobs.GetConsumingEnumerable())
        {
            if (Volatile.Read(ref _error) is not null)
            {
                // Keep draining, so the caller never waits forever for a buffer; it sees the error next call.
                Discard(job);
                continue;
            }

            try
            {
                Process(job);
            }
            catch (Exception e)
            {
                Volatile.Write(ref _error, e);
                Discard(job);
                CloseOpenPart();
            }
        }
    }

    private void Process(Job job)
    {
        switch (job.Kind)
        {
            case JobKind.Start:
                _path = job.Path!;
                _file = job.File;
                _deflate = new DeflateStream(_file!, Compression, leaveOpen: true);
                _crc = new Crc32();
                _uncompressed = 0;
                break;
            case JobKind.Data:
                var data = job.Buffer!.WrittenSpan;
                _crc.Append(data);
                _contentHash.AppendData(data);
                _deflate!.Write(data);
                _uncompressed += data.Length;
                Recycle(job.Buffer);
                break;
            case JobKind.End:
                _deflate!.Dispose();
                _deflate = null;
                _file!.Flush();
                var compressed = _file.Length;
                _file.Dispose();
                _file = null;
                _parts.Add(new CompressedPart(_path, _crc.Value, compressed, _uncompressed, job.Records));
                break;
            default:
                throw new InvalidOperationException($"Unknown job {job.Kind}.");
        }
    }

    private void Discard(Job job)
    {
        if (job.Buffer is not null)
        {
            Recycle(job.Buffer);
        }

        job.File?.Dispose();
    }

    private void Recycle(ByteBuffer buffer)
    {
        buffer.Clear();
        // A buffer one huge record grew is not kept for the rest of the run.
        buffer.Shrink(_bufferSize * 2);
        _free.Add(buffer);
    }

    private void CloseOpenPart()
    {
        try
        {
            _deflate?.Dispose();
        }
        catch (IOException)
        {
            // Already failing or abandoned: the part file is deleted by the owner anyway.
        }

        _deflate = null;
        _file?.Dispose();
        _file = null;
    }

    private enum JobKind
    {
        Start,
        Data,
        End,
    }

    private sealed record Job(JobKind Kind, string? Path, FileStream? File, ByteBuffer? Buffer, long Records);
}

/// <summary>A closed part: its deflated data file and what the zip headers need about it.</summary>
internal sealed record CompressedPart(string Path, uint Crc, long CompressedSize, long UncompressedSize, long Records);
