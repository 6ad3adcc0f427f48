using System.IO.Compression;
using System.Security.Cryptography;
using BulkExport.Exporter.Formats.Zip;
using BulkExport.Exporter.Rows;
using BulkExport.Publishing.Layout;

namespace BulkExport.Exporter.Formats;

/// <summary>What the pipeline needs of the writer of one output group, whatever the format.</summary>
internal interface IDataFileSetWriter : IDisposable
{
    /// <summary>Uncompressed bytes written so far, for progress reporting.</summary>
    long UncompressedBytes { get; }

    void Write(object?[] row, ReadOnlySpan<byte> digest);

    /// <summary>A row seen through a borrowed view (valid during the call), with its digest.</summary>
    void Write(IRowView row, ReadOnlySpan<byte> digest);

    DataFileSet Complete();
}

/// <summary>
/// A format configured per entity (its CRS, the generation's time, a codec): the registry holds a
/// prototype, the pipeline asks it for the entity's instance.
/// </summary>
internal interface IEntityConfiguredFormat
{
    IOutputFormat For(Geo.EntityGeometry entity, DateTimeOffset pointInTime, string parquetCompression);
}

/// <summary>
/// An <see cref="IFileFormat"/> that also controls how its finished file is published: stored or
/// deflated in the zip, and a content id over the rows' digests rather than the file's bytes (see
/// <see cref="FileDataSetWriter"/>). GPKG and PARQUET; the pipeline writes them through <see cref="FileDataSetWriter"/>.
/// </summary>
internal interface ITempFileFormat : IFileFormat
{
    /// <summary>Zip method of the data file: deflate, or stored for a file that compresses its own pages.</summary>
    bool DeflateInZip { get; }

    /// <summary>The settings that change the bytes for the same rows (codec, row-group size, CRS), for the content id.</summary>
    string Settings { get; }

    ITempDataFile Create(string path, IReadOnlyList<Column> columns);
}

/// <summary>One data file being built at a path, fed boxed rows. Memory stays bounded whatever the row count.</summary>
internal interface ITempDataFile : IDisposable
{
    void Write(object?[] row);

    /// <summary>The file's size so far (written pages, buffered row group), which the splitter compares with the limit.</summary>
    long EstimatedBytes { get; }

    /// <summary>Completes the file on disk; its bytes depend only on the rows written (and the generation's time).</summary>
    void Finish();

    IReadOnlyList<CompanionFile> CompanionFiles { get; }
}

/// <summary>The seam's <see cref="IDataFileWriter"/> over an <see cref="ITempDataFile"/>: the view's values, boxed.</summary>
internal sealed class TempDataFileWriter(ITempDataFile inner, int width) : IDataFileWriter
{
    private readonly object?[] _values = new object?[width];

    public long EstimatedBytes => inner.EstimatedBytes;

    public void Write(IRowView row)
    {
        for (var i = 0; i < _values.Length; i++)
        {
            _values[i] = row.IsNull(i) ? null : row.GetValue(i);
        }

        inner.Write(_values);
    }

    public void Finish() => inner.Finish();

    public void Dispose() => inner.Dispose();
}

/// <summary>
/// <see cref="DataFileSetWriter"/>'s counterpart for <see cref="ITempFileFormat"/>s: each part is a temporary
/// file built by the format; when a part closes it is deflated or stored, and at <see cref="Complete"/>
/// zipped under its final name.
/// </summary>
/// <remarks>
/// The content SHA-256 (<see cref="DataFileSet.ContentSha256"/>) is taken over the rows' digests in order,
/// the part boundaries and the format's settings, not over the file: a GeoPackage records the time its
/// generation wrote it (<c>gpkg_contents.last_change</c>), so the same rows give the same bytes only
/// within a generation. Equal ids still mean the same rows in the same parts written the same way, so
/// an unchanged total is re-issued as the earlier file, whose last_change is then the generation that
/// really holds the data.
/// </remarks>
/// <remarks>
/// A part closes before a row is added once the file has reached <see cref="DataFileSetOptions.MaxUncompressedBytes"/>;
/// the file cannot take a row back, so a part may pass the limit by what finishing adds (the last row
/// group, an index, a footer). <see cref="DataFileSetOptions.MaxRecordsPerFile"/> holds exactly.
/// </remarks>
internal sealed class FileDataSetWriter : IDataFileSetWriter
{
    private const int FileBufferSize = 256 * 1024;

    private readonly ITempFileFormat _format;
    private readonly IReadOnlyList<Column> _columns;
    private readonly DataFileSetOptions _options;
    private readonly IncrementalHash _content = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly List<string> _staged = [];
    private readonly List<ClosedPart> _parts = [];
    private ITempDataFile? _file;
    private string _filePath = "";
    private long _partRecords;
    private FingerprintSum _partFingerprint;
    private long _closedBytes;
    private long _records;
    private IReadOnlyList<CompanionFile> _companions = [];
    private bool _completed;
    private bool _faulted;
    private bool _disposed;

    public FileDataSetWriter(ITempFileFormat format, IReadOnlyList<Column> columns, DataFileSetOptions options)
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
        _content.AppendData(System.Text.Encoding.UTF8.GetBytes($"rows-v1|{format.Name}|{format.Settings}|"));
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

    public long UncompressedBytes => _closedBytes + (_file?.EstimatedBytes ?? 0);

    /// <summary>The view's values, boxed into a fresh array: a temp file may keep rows until its row group is full.</summary>
    public void Write(IRowView row, ReadOnlySpan<byte> digest)
    {
        if (row is ObjectRowView boxed)
        {
            Write(boxed.Values, digest);
            return;
        }

        var values = new object?[row.Columns.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = row.IsNull(i) ? null : row.GetValue(i);
        }

        Write(values, digest);
    }

    public void Write(object?[] row, ReadOnlySpan<byte> digest)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed || _faulted)
        {
            throw new InvalidOperationException(_faulted ? "The writer failed earlier and cannot continue." : "Complete() was already called.");
        }

        try
        {
            if (_partRecords > 0 && (_partRecords >= _options.MaxRecordsPerFile || _file!.EstimatedBytes >= _options.MaxUncompressedBytes))
            {
                ClosePart();
                StartPart();
            }

            _file!.Write(row);
            _partRecords++;
            _partFingerprint.Add(digest);
            _content.AppendData(digest);
            _records++;
        }
        catch
        {
            _faulted = true;
            throw;
        }
    }

    public DataFileSet Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed || _faulted)
        {
            throw new InvalidOperationException(_faulted ? "The writer failed earlier and cannot continue." : "Complete() was already called.");
        }

        _completed = true;
        try
        {
            ClosePart();
            var files = new List<StagedFile>(_parts.Count);
            for (var i = 0; i < _parts.Count; i++)
            {
                files.Add(Assemble(_parts[i], i + 1, _parts.Count));
                File.Delete(_parts[i].Path);
            }

            _staged.Clear();
            return new DataFileSet(files, Convert.ToHexStringLower(_content.GetHashAndReset()), _records, _parts.Sum(p => p.UncompressedSize));
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
        _file?.Dispose();
        _file = null;
        _content.Dispose();
        DeleteStaged();
    }

    private void StartPart()
    {
        _filePath = Path.Combine(_options.TempDirectory, $"bulkexport-{Guid.NewGuid():N}.{_format.Extension}");
        _staged.Add(_filePath);
        _file = _format.Create(_filePath, _columns);
        _partRecords = 0;
        _partFingerprint = default;
    }

    /// <summary>Finishes the open part's file, hashes it, and deflates (or keeps) it for its zip.</summary>
    private void ClosePart()
    {
        var file = _file!;
        file.Finish();
        _companions = file.CompanionFiles;
        file.Dispose();
        _file = null;

        var crc = new Crc32();
        var buffer = new byte[FileBufferSize];
        long size = 0;
        string dataPath;
        long compressed;
        using (var input = new FileStream(_filePath, FileMode.Open, FileAccess.Read, FileShare.None, FileBufferSize, FileOptions.SequentialScan))
        {
            if (_format.DeflateInZip)
            {
                dataPath = Path.Combine(_options.TempDirectory, $"bulkexport-{Guid.NewGuid():N}.deflate");
                _staged.Add(dataPath);
                using var output = new FileStream(dataPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileBufferSize);
                using (var deflate = new DeflateStream(output, new ZLibCompressionOptions { CompressionLevel = _options.CompressionLevel }, leaveOpen: true))
                {
                    size = Pump(input, buffer, ref crc, deflate);
                }

                compressed = output.Length;
            }
            else
            {
                dataPath = _filePath;
                size = Pump(input, buffer, ref crc, null);
                compressed = size;
            }
        }

        if (dataPath != _filePath)
        {
            File.Delete(_filePath);
        }

        Span<byte> boundary = stackalloc byte[9];
        boundary[0] = (byte)'|';
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(boundary[1..], _partRecords);
        _content.AppendData(boundary);
        _closedBytes += size;
        _parts.Add(new ClosedPart(dataPath, crc.Value, compressed, size, _partRecords, _partFingerprint.ToHex(), _format.DeflateInZip));
    }

    private long Pump(Stream input, byte[] buffer, ref Crc32 crc, Stream? output)
    {
        long size = 0;
        int read;
        while ((read = input.Read(buffer, 0, buffer.Length)) > 0)
        {
            var chunk = buffer.AsSpan(0, read);
            crc.Append(chunk);
            output?.Write(chunk);
            size += read;
        }

        return size;
    }

    private StagedFile Assemble(ClosedPart part, int number, int count)
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
            using (var data = new FileStream(part.Path, FileMode.Open, FileAccess.Read, FileShare.None, FileBufferSize, FileOptions.SequentialScan))
            {
                zip.AddEntry(innerName, data, part.CompressedSize, part.UncompressedSize, part.Crc, part.Deflated ? ZipWriter.MethodDeflate : ZipWriter.MethodStored);
            }

            foreach (var companion in _companions)
            {
                zip.AddEntry(baseName + "." + companion.Extension, companion.Content);
            }

            zip.Finish();
            size = zip.Position;
        }

        return new StagedFile(baseName + ".zip", innerName, path, size, Convert.ToHexStringLower(sha.GetHashAndReset()), part.Records, part.UncompressedSize, number, count, part.Fingerprint);
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

    private sealed record ClosedPart(string Path, uint Crc, long CompressedSize, long UncompressedSize, long Records, string Fingerprint, bool Deflated);
}
