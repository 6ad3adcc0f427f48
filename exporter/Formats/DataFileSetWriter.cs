using System.Security.Cryptography;
using BulkExport.Exporter.Formats.Zip;
using BulkExport.Publishing.Layout;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Formats;

/// <param name="BaseName">(part, partCount) → file name without extension, parts counted from 1. The caller decides the <c>_partKofN</c> suffix.</param>
/// <param name="TableName">Entity name, for the DDL.</param>
/// <param name="KeyColumns">For the DDL's PRIMARY KEY.</param>
/// <param name="TempDirectory">Existing directory for staged files; names inside are unique per writer.</param>
/// <param name="MaxUncompressedBytes">A part's data file never exceeds this, unless one record alone does.</param>
/// <param name="MaxRecordsPerFile">Optional record limit per part.</param>
/// <param name="Timestamp">Modification time of the zip entries.</param>
/// <param name="GeometryColumn">Index of the entity's declared geometry column, for the formats that place it.</param>
/// <param name="CompressionLevel">zlib level of the data files' deflate, 1..9 (<c>spec.output.compressionLevel</c>).</param>
internal sealed record DataFileSetOptions(
    Func<int, int, string> BaseName,
    string TableName,
    IReadOnlyList<string> KeyColumns,
    string TempDirectory,
    long MaxUncompressedBytes,
    long? MaxRecordsPerFile,
    DateTimeOffset Timestamp,
    int? GeometryColumn = null,
    int CompressionLevel = DataFileSetOptions.DefaultCompressionLevel)
{
    /// <summary>The default of <c>spec.output.compressionLevel</c> (see <c>OutputSpec.DefaultCompressionLevel</c>).</summary>
    public const int DefaultCompressionLevel = BulkExport.Api.OutputSpec.DefaultCompressionLevel;
}

/// <param name="Files">The zip files, in part order.</param>
/// <param name="ContentSha256">SHA-256 (lowercase hex) equal exactly when the rows (and their split) are equal, whatever the generation: over the uncompressed data files of all parts in order, or over the rows' digests for a file format that sets <see cref="IFileFormat.ContentSettings"/>.</param>
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
/// <param name="Fingerprint">Content fingerprint of this part's records (README, "Content fingerprints").</param>
internal sealed record StagedFile(string FileName, string InnerFileName, string LocalPath, long SizeBytes, string Sha256, long Records, long UncompressedBytes, int Part, int PartCount, string Fingerprint);

/// <summary>
/// The stages after a format: splits the rows of one output group into size- and count-limited
/// parts, deflates, CRCs and hashes each part's data file and zips it with the format's companions.
/// It does not care which format produced the bytes: an <see cref="IStreamedFormat"/>'s records are
/// deflated as they are encoded; an <see cref="IFileFormat"/>'s file, once finished, is fed through
/// the very same compressor, or copied into its zip as is when the format says it is stored
/// (<see cref="IFileFormat.DeflateInZip"/>). The zips are assembled at <see cref="Complete"/>, when
/// the part count, and so every entry name, is known. What differs between file formats (stored or
/// deflated, the content id over bytes or over row digests) is the format's properties, not another writer.
/// </summary>
internal sealed class DataFileSetWriter : IDataFileSetWriter
{
    // Deflate and hash in chunks this big: each hand-off wakes the compressor thread, and on a busy 2-CPU
    // machine four times fewer wake-ups and larger deflate calls cost less than the chunk's L2 misses.
    private const int FlushThreshold = 512 * 1024;
    private const int BufferCount = 3;
    private const int FileBufferSize = 256 * 1024;

    private readonly IOutputFormat _format;
    private readonly IFileFormat? _fileFormat;
    // A file format stored in the zip: its parts bypass the compressor and are copied after the reserved header.
    private readonly bool _stored;
    private readonly List<CompressedPart> _storedParts = [];
    // The content id over the rows' digests (IFileFormat.ContentSettings), else null.
    // A 32-byte append per row: OpenSSL's plain SHA-256, not IncrementalHash's per-call EVP overhead.
    private readonly RowSha256? _rowContent;
    // The content id over the bytes of stored parts (a stored format without ContentSettings), else null.
    private readonly IncrementalHash? _storedContent;
    private readonly FormatSchema _schema;
    private readonly DataFileSetOptions _options;
    private readonly ObjectRowView _objectView;
    private readonly PartCompressor _compressor;
    private readonly List<string> _staged = [];
    private readonly int _footerLength;
    // Room left at the start of every part's zip for its first local header, whose name is known only at the end.
    private readonly int _reservedHeader;
    private ByteBuffer _buffer = new(FlushThreshold + (FlushThreshold / 2));
    // Exactly one of these two is in use, by the kind of format.
    private IRecordEncoder? _encoder;
    private IDataFileWriter? _fileWriter;
    private string? _filePath;
    // Bytes and records of the open part, counted here so splitting never waits for the compressor.
    private long _partBytes;
    private long _partRecords;
    private FingerprintSum _partFingerprint;
    private readonly List<string> _partFingerprints = [];
    private long _handedOff;
    // The open file's EstimatedBytes as last read on the writer thread, for UncompressedBytes on any thread.
    private long _fileEstimate;
    private long _records;
    private bool _completed;
    private bool _faulted;
    private bool _disposed;

    public DataFileSetWriter(IOutputFormat format, IReadOnlyList<Column> columns, DataFileSetOptions options)
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
        _schema = new FormatSchema(options.TableName, columns, options.KeyColumns, options.GeometryColumn);
        _options = options;
        _objectView = new ObjectRowView(columns);

        if (format is IStreamedFormat streamed)
        {
            var probe = new ByteBuffer(64);
            streamed.CreateEncoder(_schema).WriteFooter(probe);
            _footerLength = probe.Count;
        }
        else if (format is IFileFormat file)
        {
            _fileFormat = file;
            _stored = !file.DeflateInZip;
            if (file.ContentSettings is { } settings)
            {
                _rowContent = new RowSha256();
                _rowContent.AppendData(System.Text.Encoding.UTF8.GetBytes($"rows-v1|{format.Name}|{settings}|"));
            }
            else if (_stored)
            {
                _storedContent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            }
        }
        else
        {
            throw new ArgumentException($"Format '{format.Name}' is neither streamed nor file-based.", nameof(format));
        }

        // Last, after every check that can throw: it starts a thread that only Dispose stops.
        var longestName = options.BaseName(int.MaxValue, int.MaxValue) + "." + format.Extension;
        _reservedHeader = ZipWriter.ReservedLocalHeaderLength(System.Text.Encoding.UTF8.GetByteCount(longestName));
        _compressor = new PartCompressor(BufferCount, FlushThreshold + (FlushThreshold / 2), options.CompressionLevel);
        try
        {
            StartPart();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>A row of boxed values, through a reused <see cref="ObjectRowView"/>.</summary>
    public void Write(object?[] row, ReadOnlySpan<byte> digest) => Write(_objectView.Reset(row), digest);

    /// <summary>Uncompressed bytes handed to the compressor so far, for progress reporting.</summary>
    public long UncompressedBytes => Interlocked.Read(ref _handedOff) + Volatile.Read(ref _fileEstimate);

    /// <summary>Appends a row. Synchronous and CPU-bound: encodes here, deflates on the compressor thread.</summary>
    /// <param name="row">The record, valid during the call.</param>
    /// <param name="digest">Its SHA-256 digest of canonical bytes (<c>RowDigest</c>), summed into the part's fingerprint.</param>
    public void Write(IRowView row, ReadOnlySpan<byte> digest)
    {
        ThrowIfNotWritable();
        try
        {
            if (_partRecords > 0 && _partRecords >= _options.MaxRecordsPerFile)
            {
                Roll();
            }

            if (_fileWriter is not null)
            {
                WriteToFile(row);
            }
            else
            {
                Encode(row);
            }

            _partRecords++;
            _partFingerprint.Add(digest);
            _rowContent?.AppendData(digest);
            _records++;
        }
        catch
        {
            // The encoder may have written half a record; nothing after this can be trusted.
            _faulted = true;
            throw;
        }
    }

    private void WriteToFile(IRowView row)
    {
        // The file cannot take a record back, so the split is predicted: roll when this record, at the
        // part's mean size so far, would carry the file past the limit.
        if (_partRecords > 0)
        {
            var estimate = _fileWriter!.EstimatedBytes;
            var mean = (estimate + _partRecords - 1) / _partRecords;
            if (estimate + mean > _options.MaxUncompressedBytes)
            {
                Roll();
            }
        }

        _fileWriter!.Write(row);
        Volatile.Write(ref _fileEstimate, _fileWriter.EstimatedBytes);
    }

    private void Encode(IRowView row)
    {
        var mark = _buffer.Count;
        _encoder!.WriteRecord(row, _buffer);
        if (_partRecords > 0 && _partBytes + _buffer.Count + _footerLength > _options.MaxUncompressedBytes)
        {
            // The encoded record carries this part's separator, so it is encoded again for the next.
            _buffer.Truncate(mark);
            Roll();
            _encoder!.WriteRecord(row, _buffer);
        }

        if (_buffer.Count >= FlushThreshold)
        {
            HandOff();
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
            var (parts, contentSha) = _compressor.Finish();
            if (_stored)
            {
                parts = _storedParts;
            }

            if (_rowContent is not null)
            {
                contentSha = Convert.ToHexStringLower(_rowContent.GetHashAndReset());
            }
            else if (_storedContent is not null)
            {
                contentSha = Convert.ToHexStringLower(_storedContent.GetHashAndReset());
            }

            var companions = _format.CompanionFiles(_schema);
            var files = new List<StagedFile>(parts.Count);
            for (var i = 0; i < parts.Count; i++)
            {
                files.Add(Assemble(parts[i], i + 1, parts.Count, companions));
            }

            _staged.Clear();
            return new DataFileSet(files, contentSha, _records, parts.Sum(p => p.UncompressedSize));
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
        _fileWriter?.Dispose();
        _fileWriter = null;
        _compressor.Dispose();
        _rowContent?.Dispose();
        _storedContent?.Dispose();
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

    private void StartPart()
    {
        _partBytes = 0;
        _partRecords = 0;
        if (_fileFormat is not null)
        {
            _filePath = Path.Combine(_options.TempDirectory, $"bulkexport-{Guid.NewGuid():N}.{_format.Extension}");
            _staged.Add(_filePath);
            _fileWriter = _fileFormat.CreateWriter(_schema, _filePath);
            if (_stored)
            {
                // Its zip is written when the file is finished (StoreFile).
                return;
            }
        }

        // The part's zip itself: deflate streams into it after the room for the local header, so no
        // compressed copy is ever made. Created here rather than on the compressor thread, so a bad
        // temp directory fails the caller at once.
        var path = Path.Combine(_options.TempDirectory, $"bulkexport-{Guid.NewGuid():N}.zip");
        _staged.Add(path);
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileBufferSize);
        try
        {
            file.Position = _reservedHeader;
        }
        catch
        {
            file.Dispose();
            throw;
        }

        _compressor.StartPart(path, file);
        if (_format is IStreamedFormat streamed)
        {
            _encoder = streamed.CreateEncoder(_schema);
            _encoder.WriteHeader(_buffer);
        }
    }

    private void Roll()
    {
        FinishPart();
        StartPart();
    }

    private void FinishPart()
    {
        if (_fileWriter is { } fileWriter)
        {
            fileWriter.Finish();
            fileWriter.Dispose();
            _fileWriter = null;
            Volatile.Write(ref _fileEstimate, 0);
            if (_stored)
            {
                StoreFile(_filePath!);
            }
            else
            {
                FeedFile(_filePath!);
                _compressor.EndPart(_partRecords);
            }
        }
        else
        {
            _encoder!.WriteFooter(_buffer);
            HandOff();
            _compressor.EndPart(_partRecords);
        }

        if (_rowContent is not null)
        {
            // The part boundary, so the same rows split differently give another id.
            Span<byte> boundary = stackalloc byte[9];
            boundary[0] = (byte)'|';
            System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(boundary[1..], _partRecords);
            _rowContent.AppendData(boundary);
        }

        _partFingerprints.Add(_partFingerprint.ToHex());
        _partFingerprint = default;
    }

    /// <summary>Sends a finished data file through the compressor like encoded records, then drops it.</summary>
    private void FeedFile(string path)
    {
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None, 1, FileOptions.SequentialScan))
        {
            while (true)
            {
                var span = _buffer.GetSpan(FlushThreshold);
                var read = file.Read(span[..FlushThreshold]);
                if (read == 0)
                {
                    break;
                }

                _buffer.Advance(read);
                HandOff();
            }
        }

        File.Delete(path);
        _staged.Remove(path);
    }

    /// <summary>Copies a finished data file into its own zip after the room for the local header, stored, CRC-ing it on the way; then drops it.</summary>
    private void StoreFile(string path)
    {
        var zipPath = Path.Combine(_options.TempDirectory, $"bulkexport-{Guid.NewGuid():N}.zip");
        _staged.Add(zipPath);
        var crc = new Crc32();
        long size = 0;
        var chunk = new byte[FileBufferSize];
        using (var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None, 1, FileOptions.SequentialScan))
        using (var output = new FileStream(zipPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1))
        {
            output.Position = _reservedHeader;
            int read;
            while ((read = input.Read(chunk)) > 0)
            {
                var data = chunk.AsSpan(0, read);
                crc.Append(data);
                _storedContent?.AppendData(data);
                output.Write(data);
                size += read;
            }
        }

        File.Delete(path);
        _staged.Remove(path);
        _partBytes = size;
        Interlocked.Add(ref _handedOff, size);
        _storedParts.Add(new CompressedPart(zipPath, _reservedHeader, crc.Value, size, size, _partRecords));
    }

    private void HandOff()
    {
        if (_buffer.Count == 0)
        {
            return;
        }

        _partBytes += _buffer.Count;
        _handedOff += _buffer.Count;
        _buffer = _compressor.Submit(_buffer);
    }

    private StagedFile Assemble(CompressedPart part, int number, int count, IReadOnlyList<CompanionFile> companions)
    {
        var baseName = _options.BaseName(number, count);
        if (string.IsNullOrWhiteSpace(baseName))
        {
            throw new InvalidOperationException($"BaseName({number}, {count}) returned an empty name.");
        }

        var innerName = baseName + "." + _format.Extension;
        string sha;
        long size;
        using (var file = new FileStream(part.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileBufferSize))
        {
            var compressed = part.CompressedSize;
            var method = _stored ? ZipWriter.MethodStored : ZipWriter.MethodDeflate;
            if (part.UncompressedSize == 0)
            {
                // Deflate of nothing is no valid entry data; a stored empty entry is the valid spelling.
                compressed = 0;
                method = ZipWriter.MethodStored;
            }

            file.Position = part.DataOffset + compressed;
            var zip = new ZipWriter(file, _options.Timestamp, startPosition: file.Position);
            var header = new byte[part.DataOffset];
            zip.WriteReservedLocalHeader(header, innerName, compressed, part.UncompressedSize, part.Crc, method);
            zip.AddWrittenEntry(innerName, 0, compressed, part.UncompressedSize, part.Crc, method);
            foreach (var companion in companions)
            {
                zip.AddEntry(baseName + "." + companion.Extension, companion.Content);
            }

            zip.Finish();
            size = zip.Position;
            file.SetLength(size);
            file.Position = 0;
            file.Write(header);
            file.Flush();
            // One read of the finished zip (mostly still in the page cache): the header that starts it
            // is written last, so its hash cannot be taken on the way.
            file.Position = 0;
            sha = Convert.ToHexStringLower(SHA256.HashData(file));
        }

        return new StagedFile(
            baseName + ".zip",
            innerName,
            part.Path,
            size,
            sha,
            part.Records,
            part.UncompressedSize,
            number,
            count,
            _partFingerprints[number - 1]);
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
}
