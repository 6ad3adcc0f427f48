using System.IO.Compression;
using System.Security.Cryptography;
using BulkExport.Exporter.Formats.Zip;
using BulkExport.Exporter.Sources;

namespace BulkExport.Exporter.Formats;

/// <param name="BaseName">(part, partCount) → file name without extension, parts counted from 1. The caller decides the <c>_partKofN</c> suffix.</param>
/// <param name="TableName">Entity name, for the DDL.</param>
/// <param name="KeyColumns">For the DDL's PRIMARY KEY.</param>
/// <param name="TempDirectory">Existing directory for staged files; names inside are unique per writer.</param>
/// <param name="MaxUncompressedBytes">A part's data file never exceeds this, unless one record alone does.</param>
/// <param name="MaxRecordsPerFile">Optional record limit per part.</param>
/// <param name="Timestamp">Modification time of the zip entries.</param>
internal sealed record DataFileSetOptions(
    Func<int, int, string> BaseName,
    string TableName,
    IReadOnlyList<string> KeyColumns,
    string TempDirectory,
    long MaxUncompressedBytes,
    long? MaxRecordsPerFile,
    DateTimeOffset Timestamp);

/// <param name="Files">The zip files, in part order.</param>
/// <param name="ContentSha256">SHA-256 (lowercase hex) over the uncompressed data files of all parts in order: equal exactly when the rows (and their split) are equal, whatever the generation.</param>
/// <param name="Records">Rows written.</param>
/// <param name="UncompressedBytes">Sum of the parts' data file sizes, companions excluded.</param>
internal sealed record DataFileSet(IReadOnlyList<StagedFile> Files, string ContentSha256, long Records, long UncompressedBytes);

/// <param name="FileName">The zip's name, <c>BaseName(k, n).zip</c>.</param>
/// <param name="InnerFileName">The data file inside, <c>BaseName(k, n).{extension}</c>.</param>
/// <param name="LocalPath">Where the zip is staged; the caller owns (and deletes) it after <see cref="DataFileSetWriter.Complete"/>.</param>
/// <param name="SizeBytes">Zip size.</param>
/// <param name="Sha256">SHA-256 of the zip, lowercase hex.</param>
/// <param name="Records">Rows in this part.</param>
/// <param name="UncompressedBytes">Size of this part's data file.</param>
/// <param name="Part">1-based part number.</param>
/// <param name="PartCount">Number of parts of the set.</param>
internal sealed record StagedFile(string FileName, string InnerFileName, string LocalPath, long SizeBytes, string Sha256, long Records, long UncompressedBytes, int Part, int PartCount);

/// <summary>
/// Writes the rows of one output group into size- and count-limited parts and zips them. Each part's
/// data is deflated to a temp file as rows arrive (memory stays bounded); the zips are assembled at
/// <see cref="Complete"/>, when the part count, and so every entry name, is known.
/// </summary>
internal sealed class DataFileSetWriter : IDisposable
{
    // Deflate and hash in chunks this big: large enough to amortise the calls, small enough for L2.
    private const int FlushThreshold = 128 * 1024;
    private const int FileBufferSize = 256 * 1024;

    // zlib level 1 is what gzip -1 uses; measured on par with CompressionLevel.Fastest (both map to
    // level 1 in zlib-ng), spelled out so a runtime change of the enum's meaning cannot slow us down.
    private static readonly ZLibCompressionOptions Compression = new() { CompressionLevel = 1 };

    private readonly IRecordFormat _format;
    private readonly IReadOnlyList<Column> _columns;
    private readonly DataFileSetOptions _options;
    private readonly ByteBuffer _buffer = new(FlushThreshold + (FlushThreshold / 2));
    private readonly IncrementalHash _contentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly List<FinishedPart> _parts = [];
    private readonly List<string> _staged = [];
    private readonly int _footerLength;
    private IRecordEncoder _encoder;
    private OpenPart? _current;
    private long _records;
    private long _uncompressedBytes;
    private bool _completed;
    private bool _faulted;
    private bool _disposed;

    public DataFileSetWriter(IRecordFormat format, IReadOnlyList<Column> columns, DataFileSetOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxUncompressedBytes, 1);
        if (options.MaxRecordsPerFile is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "MaxRecordsPerFile must be at least 1.");
        }

        if (!Directory.Exists(options.TempDirectory))
        {
            throw new DirectoryNotFoundException($"Temp directory '{options.TempDirectory}' does not exist.");
        }

        _format = format;
        _columns = columns;
        _options = options;

        var probe = new ByteBuffer(64);
        format.CreateEncoder(columns).WriteFooter(probe);
        _footerLength = probe.Count;

        _encoder = StartPart();
    }

    /// <summary>Uncompressed bytes written so far (flushed to deflate), for progress reporting.</summary>
    public long UncompressedBytes => _uncompressedBytes + (_current?.Flushed ?? 0);

    /// <summary>Appends a row. Synchronous: encoding and deflate are CPU work.</summary>
    public void Write(object?[] row)
    {
        ThrowIfNotWritable();
        var part = _current!;
        try
        {
            if (part.Records > 0 && part.Records >= _options.MaxRecordsPerFile)
            {
                part = Roll();
            }

            var mark = _buffer.Count;
            _encoder.WriteRecord(row, _buffer);
            if (part.Records > 0 && part.Flushed + _buffer.Count + _footerLength > _options.MaxUncompressedBytes)
            {
                // The encoded record carries this part's separator, so it is encoded again for the next.
                _buffer.Truncate(mark);
                part = Roll();
                _encoder.WriteRecord(row, _buffer);
            }

            part.Records++;
            _records++;
            if (_buffer.Count >= FlushThreshold)
            {
                Flush(part);
            }
        }
        catch
        {
            // The encoder may have written half a record; nothing after this can be trusted.
            _faulted = true;
            throw;
        }
    }

    /// <summary>Closes the last part and assembles the zips in the temp directory.</summary>
    public DataFileSet Complete()
    {
        ThrowIfNotWritable();
        _completed = true;
        try
        {
            FinishPart();
            var contentSha = Convert.ToHexStringLower(_contentHash.GetHashAndReset());
            var companions = _encoder.CompanionFiles(_options.TableName, _options.KeyColumns);
            var files = new List<StagedFile>(_parts.Count);
            for (var i = 0; i < _parts.Count; i++)
            {
                files.Add(Assemble(_parts[i], i + 1, _parts.Count, companions));
                File.Delete(_parts[i].Path);
                _staged.Remove(_parts[i].Path);
            }

            _staged.Clear();
            return new DataFileSet(files, contentSha, _records, _uncompressedBytes);
        }
        catch
        {
            _faulted = true;
            DeleteStaged();
            throw;
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _current?.Dispose();
        _current = null;
        _contentHash.Dispose();
        DeleteStaged();
    }

    private void ThrowIfNotWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed || _faulted)
        {
            throw new InvalidOperationException(_faulted ? "The writer failed earlier and cannot continue." : "Complete() was already called.");
        }
    }

    private IRecordEncoder StartPart()
    {
        var path = Path.Combine(_options.TempDirectory, $"bulkexport-{Guid.NewGuid():N}.deflate");
        _staged.Add(path);
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileBufferSize);
        _current = new OpenPart(path, file, new DeflateStream(file, Compression, leaveOpen: true));
        var encoder = _format.CreateEncoder(_columns);
        encoder.WriteHeader(_buffer);
        return encoder;
    }

    private OpenPart Roll()
    {
        FinishPart();
        _encoder = StartPart();
        return _current!;
    }

    private void FinishPart()
    {
        var part = _current!;
        _encoder.WriteFooter(_buffer);
        Flush(part);
        part.Deflate.Dispose();
        part.File.Flush();
        var compressed = part.File.Length;
        part.File.Dispose();
        _current = null;
        _uncompressedBytes += part.Flushed;
        _parts.Add(new FinishedPart(part.Path, part.Crc.Value, compressed, part.Flushed, part.Records));
    }

    private void Flush(OpenPart part)
    {
        var data = _buffer.WrittenSpan;
        if (data.IsEmpty)
        {
            return;
        }

        part.Crc.Append(data);
        _contentHash.AppendData(data);
        part.Deflate.Write(data);
        part.Flushed += data.Length;
        _buffer.Clear();
        _buffer.Shrink(FlushThreshold * 2);
    }

    private StagedFile Assemble(FinishedPart part, int number, int count, IReadOnlyList<CompanionFile> companions)
    {
        var baseName = _options.BaseName(number, count);
        if (string.IsNullOrWhiteSpace(baseName))
        {
            throw new InvalidOperationException($"BaseName({number}, {count}) returned an empty name.");
        }

        var innerName = baseName + "." + _format.Extension;
        var path = Path.Combine(_options.TempDirectory, $"bulkexport-{Guid.NewGuid():N}.zip");
        _staged.Add(path);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size;
        using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileBufferSize))
        {
            using var hashing = new HashingWriteStream(file, sha);
            var zip = new ZipWriter(hashing, _options.Timestamp);
            if (part.UncompressedSize == 0)
            {
                zip.AddEntry(innerName, ReadOnlySpan<byte>.Empty);
            }
            else
            {
                using var data = new FileStream(part.Path, FileMode.Open, FileAccess.Read, FileShare.None, FileBufferSize, FileOptions.SequentialScan);
                zip.AddEntry(innerName, data, part.CompressedSize, part.UncompressedSize, part.Crc, ZipWriter.MethodDeflate);
            }

            foreach (var companion in companions)
            {
                zip.AddEntry(baseName + "." + companion.Extension, companion.Content);
            }

            zip.Finish();
            size = zip.Position;
        }

        return new StagedFile(
            baseName + ".zip",
            innerName,
            path,
            size,
            Convert.ToHexStringLower(sha.GetHashAndReset()),
            part.Records,
            part.UncompressedSize,
            number,
            count);
    }

    private void DeleteStaged()
    {
        foreach (var path in _staged)
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
                // Best effort: the temp directory is the caller's scratch space and is cleaned with it.
            }
        }

        _staged.Clear();
    }

    private sealed class OpenPart(string path, FileStream file, DeflateStream deflate) : IDisposable
    {
        public string Path { get; } = path;

        public FileStream File { get; } = file;

        public DeflateStream Deflate { get; } = deflate;

        public Crc32 Crc = new();

        public long Flushed { get; set; }

        public long Records { get; set; }

        public void Dispose()
        {
            Deflate.Dispose();
            File.Dispose();
        }
    }

    private sealed record FinishedPart(string Path, uint Crc, long CompressedSize, long UncompressedSize, long Records);
}

/// <summary>Hashes what passes through on the way to the file, so a staged zip is read only once.</summary>
internal sealed class HashingWriteStream(Stream inner, IncrementalHash hash) : Stream
{
    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        hash.AppendData(buffer);
        inner.Write(buffer);
    }

    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
