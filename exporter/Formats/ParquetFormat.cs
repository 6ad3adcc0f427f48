using System.Globalization;
using System.Text;
using System.Text.Json;
using BulkExport.Api;
using BulkExport.Exporter.Formats.Geo;
using BulkExport.Exporter.Rows;
using NetTopologySuite.Geometries;
using NetTopologySuite.IO;
using Parquet;
using Parquet.Schema;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// Apache Parquet (Parquet.Net): typed columns in the entity's column order, row groups bounded in
/// rows and bytes, pages compressed with ZSTD or SNAPPY; geometry columns as WKB with GeoParquet 1.1
/// <c>geo</c> metadata. Parquet's footer points back into the file, so it is built in a seekable
/// temporary file; the zip then stores it (its pages are compressed already).
/// </summary>
/// <param name="entity">Entity name, geometry columns and CRS.</param>
/// <param name="compression">A <see cref="ParquetCompression"/> name.</param>
/// <param name="maxRowGroupRows">Rows per row group at most.</param>
/// <param name="maxRowGroupBytes">Buffered bytes (estimated) per row group at most.</param>
internal sealed class ParquetFormat(EntityGeometry entity, string compression, int maxRowGroupRows = ParquetDataFile.MaxRowGroupRows, long maxRowGroupBytes = ParquetDataFile.MaxRowGroupBytes) : IFileFormat, IEntityConfiguredFormat
{
    public string Name => "PARQUET";

    public string Extension => "parquet";

    // Deflating zstd pages again costs CPU and gains about nothing; the zip stores the file as is.
    public bool DeflateInZip => false;

    // The file's bytes do not depend on the generation; the id over the rows is kept so the ids of
    // existing Parquet totals stay what they were (re-issue compares them across runs).
    public string ContentSettings => $"codec={compression}|rows={maxRowGroupRows}|bytes={maxRowGroupBytes}|epsg={entity.Epsg}|geometry={entity.GeometryColumn}";

    public IDataFileWriter CreateWriter(FormatSchema schema, string path) => new ParquetDataFile(path, schema.Columns, entity, compression, maxRowGroupRows, maxRowGroupBytes);

    public IReadOnlyList<CompanionFile> CompanionFiles(FormatSchema schema) => [SqlDdl.Companion(schema)];

    public IOutputFormat For(EntityGeometry entity, DateTimeOffset pointInTime, string parquetCompression) => new ParquetFormat(entity, parquetCompression, maxRowGroupRows, maxRowGroupBytes);
}

/// <summary>
/// One Parquet file. Rows are buffered column by column (typed arrays, not row objects) until the row
/// group is full — <see cref="MaxRowGroupRows"/> rows or about <see cref="MaxRowGroupBytes"/> — then
/// written and dropped (the limits are the format's parameters), so memory is bounded by one row group whatever the row count.
/// </summary>
internal sealed class ParquetDataFile : IDataFileWriter
{
    public const int MaxRowGroupRows = 64 * 1024;
    public const long MaxRowGroupBytes = 16L * 1024 * 1024;

    // Small row groups (tests, tiny entities) leave too little garbage to be worth a full collection.
    private const long CollectAfterBytes = 1L << 20;

    private readonly IReadOnlyList<Column> _columns;
    private readonly EntityGeometry _entity;
    private readonly FileStream _stream;
    private readonly ParquetWriter _writer;
    private readonly DataField[] _fields;
    private readonly ColumnBuffer[] _buffers;
    private readonly int[] _geometryIndexes;
    private readonly GeometryReader _geometry;
    private readonly WKBWriter _wkb = new(ByteOrder.LittleEndian, handleSRID: false, emitZ: false, emitM: false);
    // ISO WKB Z (type + 1000), what GeoParquet 1.1 asks for a geometry with a Z.
    private readonly WKBWriter _wkbZ = new(ByteOrder.LittleEndian, handleSRID: false, emitZ: true, emitM: false);
    private readonly Dictionary<int, GeometryStats> _stats = [];
    private readonly WktToWkb _wkbFromWkt = new();
    private readonly int _maxRows;
    private readonly long _maxBytes;
    private int _buffered;
    private long _bufferedBytes;
    // The file's length so far: it grows only when a row group (or the header, or the footer) is written,
    // and EstimatedBytes is read twice per row (FileStream.Position was ~0.5% of a steady total's samples).
    private long _fileBytes;
    private bool _finished;

    public ParquetDataFile(string path, IReadOnlyList<Column> columns, EntityGeometry entity, string compression, int maxRowGroupRows, long maxRowGroupBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRowGroupRows, 1);
        _maxRows = maxRowGroupRows;
        _maxBytes = maxRowGroupBytes;
        _columns = columns;
        _entity = entity;
        _geometry = new GeometryReader(entity);
        _geometryIndexes = entity.GeometryIndexes(columns);
        foreach (var g in _geometryIndexes)
        {
            _stats[g] = new GeometryStats();
        }

        _fields = new DataField[columns.Count];
        _buffers = new ColumnBuffer[columns.Count];
        for (var i = 0; i < columns.Count; i++)
        {
            (_fields[i], _buffers[i]) = Field(columns[i], i);
        }

        var options = new ParquetOptions
        {
            CompressionMethod = compression == ParquetCompression.Snappy ? CompressionMethod.Snappy : CompressionMethod.Zstd,
            // Parquet.Net's default ("Optimal") is a high zstd level: 10× the CPU of the fastest for a
            // few percent of size (measured: 6 s against 0.6 s for a 100k-row group of six columns).
            CompressionLevel = System.IO.Compression.CompressionLevel.Fastest,
        };
        foreach (var (field, column) in _fields.Zip(columns))
        {
            if (Hint(column) is { } hint)
            {
                options.ColumnEncodingHints[field.Path.ToString()] = hint;
            }
        }

        _stream = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        try
        {
            _writer = ParquetWriter.CreateAsync(new ParquetSchema(_fields), _stream, options).GetAwaiter().GetResult();
            _fileBytes = _stream.Position;
        }
        catch
        {
            _stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// PLAIN numbers compress poorly under fast zstd (the bench's 1M-row integer key: 1.0 MB, its
    /// doubles 2.2 MB); delta-encoded integers (2.7 KB) and byte-split doubles (0.46 MB) are standard
    /// Parquet encodings DuckDB, Arrow and Spark read. Parquet.Net ignores the delta hint for DATE and
    /// DECIMAL columns, so they stay PLAIN.
    /// </summary>
    private static EncodingHint? Hint(Column column) => column.Kind switch
    {
        ColumnKind.Integer => EncodingHint.DeltaBinaryPacked,
        ColumnKind.Float => EncodingHint.ByteSplitStream,
        _ => null,
    };

    public long EstimatedBytes => _fileBytes + _bufferedBytes;

    /// <summary>The Parquet field of a column and its buffer: exact decimals as DECIMAL(p,s) when the source says p ≤ 28 (System.Decimal), text otherwise.</summary>
    private (DataField, ColumnBuffer) Field(Column column, int index) => column.Kind switch
    {
        ColumnKind.Integer => (new DataField<long?>(column.Name), new ValueBuffer<long>(static (row, i) => row.GetInt64(i), 8, static word => word)),
        ColumnKind.Float => (new DataField<double?>(column.Name), new ValueBuffer<double>(static (row, i) => row.GetDouble(i), 8, BitConverter.Int64BitsToDouble)),
        ColumnKind.Boolean => (new DataField<bool?>(column.Name), new ValueBuffer<bool>(static (row, i) => row.GetBoolean(i), 1, static word => word != 0)),
        ColumnKind.Date => (new DataField<DateOnly?>(column.Name), new ValueBuffer<DateOnly>(static (row, i) => row.GetDate(i), 4, static word => DateOnly.FromDayNumber((int)word))),
        ColumnKind.Timestamp => (new DateTimeDataField(column.Name, DateTimeFormat.Timestamp, isAdjustedToUTC: false, unit: DateTimeTimeUnit.Micros, isNullable: true),
            new ValueBuffer<DateTime>(static (row, i) => DateTime.SpecifyKind(row.GetTimestamp(i), DateTimeKind.Unspecified), 8, static word => new DateTime(word, DateTimeKind.Unspecified))),
        ColumnKind.TimestampTz => (new DateTimeDataField(column.Name, DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: true),
            new ValueBuffer<DateTime>(static (row, i) => DateTime.SpecifyKind(row.GetTimestampTz(i).UtcDateTime, DateTimeKind.Utc), 8, static word => new DateTime(word, DateTimeKind.Utc))),
        ColumnKind.Decimal when GeoPackageFile.NumericPrecision(column.SqlType) is { Precision: <= 28 } n
            => (new DecimalDataField(column.Name, n.Precision, n.Scale, isNullable: true), new ValueBuffer<decimal>((row, i) => ToDecimal(row.GetUtf8(i), column), 16)),
        ColumnKind.Geometry => (new DataField<byte[]>(column.Name, true), new BlobBuffer((row, i) => Wkb(row.GetGeometryUtf8(i), column, index))),
        ColumnKind.Bytes => (new DataField<byte[]>(column.Name, true), new BlobBuffer(static (row, i) => row.GetBytes(i).ToArray())),
        // Text as UTF-16 slices of reused arrays: no string per value (Parquet.Net takes
        // ReadOnlyMemory<char> for a string field and writes the same bytes as for strings).
        ColumnKind.Text or ColumnKind.Decimal or ColumnKind.Json => (new DataField<string>(column.Name, true), new TextBuffer(static (b, row, i) => b.AddUtf8(row.GetUtf8(i)))),
        ColumnKind.Uuid => (new DataField<string>(column.Name, true), new TextBuffer(static (b, row, i) => b.AddGuid(row.GetGuid(i)))),
        // Arrays as their JSON text, the spelling of the JSON formats.
        _ => (new DataField<string>(column.Name, true), new TextBuffer((b, row, i) => b.AddUtf8(JsonValues.ToJsonUtf8(column, row.GetValue(i)!)))),
    };

    public void Write(IRowView row)
    {
        long bytes = 0;
        var buffers = _buffers;
        if (row is RowBatch.BatchRowView view && ReadsWords(view.Batch))
        {
            // The fixed-width values straight from the batch's words: no interface call per value.
            for (var i = 0; i < buffers.Length; i++)
            {
                bytes += buffers[i].Add(view.Batch, view.Row, row, i);
            }
        }
        else
        {
            for (var i = 0; i < buffers.Length; i++)
            {
                bytes += buffers[i].Add(row, i);
            }
        }

        _buffered++;
        _bufferedBytes += bytes;
        if (_buffered >= _maxRows || _bufferedBytes >= _maxBytes)
        {
            FlushRowGroup();
        }
    }

    // The last batch checked by ReadsWords (batches are pooled and reused, so this holds for many rows).
    private RowBatch? _checkedBatch;
    private bool _checkedResult;

    /// <summary>Whether <paramref name="batch"/> holds this file's columns, kind for kind, so a word-backed buffer may read its words.</summary>
    private bool ReadsWords(RowBatch batch)
    {
        if (!ReferenceEquals(batch, _checkedBatch))
        {
            var columns = batch.Columns;
            var ok = columns.Count == _columns.Count;
            for (var i = 0; ok && i < columns.Count; i++)
            {
                ok = columns[i].Kind == _columns[i].Kind;
            }

            _checkedBatch = batch;
            _checkedResult = ok;
        }

        return _checkedResult;
    }

    /// <summary>WKB straight from the WKT (<see cref="WktToWkb"/>), NetTopologySuite for what that does not take.</summary>
    private byte[] Wkb(GeometryUtf8 value, Column column, int index)
    {
        if (_wkbFromWkt.TryConvert(_geometry.CheckedWkt(value, column)))
        {
            _stats[index].Add(_wkbFromWkt.Type, _wkbFromWkt.MinX, _wkbFromWkt.MaxX, _wkbFromWkt.MinY, _wkbFromWkt.MaxY);
            return _wkbFromWkt.Wkb.ToArray();
        }

        var geometry = _geometry.Read(value, column, out var hasZ);
        _stats[index].Add(geometry, hasZ);
        return (hasZ ? _wkbZ : _wkb).Write(geometry);
    }

    private decimal ToDecimal(ReadOnlySpan<byte> text, Column column) =>
        decimal.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var d)
            ? d
            : throw new FormatException($"entity {_entity.EntityName}, column {column.Name}: '{Encoding.UTF8.GetString(text)}' does not fit DECIMAL({column.SqlType}) in PARQUET");

    private void FlushRowGroup()
    {
        if (_buffered == 0)
        {
            return;
        }

        using (var group = _writer.CreateRowGroup())
        {
            for (var i = 0; i < _fields.Length; i++)
            {
                _buffers[i].WriteAsync(group, _fields[i]).GetAwaiter().GetResult();
                _buffers[i].Clear();
            }
        }

        _fileBytes = _stream.Position;
        var flushed = _bufferedBytes;
        _buffered = 0;
        _bufferedBytes = 0;
        if (flushed >= CollectAfterBytes)
        {
            // Parquet.Net leaves about 1.6 MB of large-object garbage per column chunk (155 MB per
            // 1M rows of six text columns), whatever its pool limit (MaximumLargePoolFreeBytes 1 GB: the
            // same), and only a full collection frees it. Left to the GC's own budget, peak RSS of the
            // 1M-row bench's steady total was 188-203 MB against 165-185 MB; the collections cost about
            // 70-260 ms more pause per 1M rows on the loaded 2-CPU machine (GC.GetTotalPauseDuration),
            // which the RSS goal (< 200 MB) is worth. Bounded buffers on this side (see ColumnBuffer)
            // do not reach garbage made inside the library.
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
        }
    }

    public void Finish()
    {
        if (_finished)
        {
            return;
        }

        _finished = true;
        FlushRowGroup();
        if (_geometryIndexes.Length > 0)
        {
            _writer.CustomMetadata = new Dictionary<string, string> { ["geo"] = GeoMetadata() };
        }

        _writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _stream.Flush();
        _stream.Dispose();
    }

    /// <summary>GeoParquet 1.1's <c>geo</c> key: WKB columns, their types, CRS (PROJJSON) and bbox.</summary>
    private string GeoMetadata()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.1.0");
            w.WriteString("primary_column", _columns[_geometryIndexes[0]].Name);
            w.WriteStartObject("columns");
            foreach (var index in _geometryIndexes)
            {
                var stats = _stats[index];
                w.WriteStartObject(_columns[index].Name);
                w.WriteString("encoding", "WKB");
                w.WriteStartArray("geometry_types");
                foreach (var type in stats.Types.Order(StringComparer.Ordinal))
                {
                    w.WriteStringValue(type);
                }

                w.WriteEndArray();
                // Written even for EPSG:4326: without it a reader must assume OGC:CRS84.
                w.WritePropertyName("crs");
                w.WriteRawValue(_geometry.Crs.ProjJson);
                if (!stats.Bounds.IsNull)
                {
                    w.WriteStartArray("bbox");
                    w.WriteNumberValue(stats.Bounds.MinX);
                    w.WriteNumberValue(stats.Bounds.MinY);
                    w.WriteNumberValue(stats.Bounds.MaxX);
                    w.WriteNumberValue(stats.Bounds.MaxY);
                    w.WriteEndArray();
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public void Dispose()
    {
        if (!_finished)
        {
            _writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        _stream.Dispose();
    }

    private sealed class GeometryStats
    {
        public HashSet<string> Types { get; } = [];

        public Envelope Bounds { get; } = new();

        public void Add(OgcGeometryType type, double minX, double maxX, double minY, double maxY)
        {
            Types.Add(Name(type));
            Bounds.ExpandToInclude(minX, minY);
            Bounds.ExpandToInclude(maxX, maxY);
        }

        public void Add(Geometry geometry, bool hasZ)
        {
            // GeoParquet spells a 3D type with a " Z" suffix ("Point Z").
            Types.Add(hasZ ? Name(geometry.OgcGeometryType) + " Z" : Name(geometry.OgcGeometryType));
            if (!geometry.IsEmpty)
            {
                Bounds.ExpandToInclude(geometry.EnvelopeInternal);
            }
        }

        private static string Name(OgcGeometryType type) => type switch
        {
            OgcGeometryType.Point => "Point",
            OgcGeometryType.LineString => "LineString",
            OgcGeometryType.Polygon => "Polygon",
            OgcGeometryType.MultiPoint => "MultiPoint",
            OgcGeometryType.MultiLineString => "MultiLineString",
            OgcGeometryType.MultiPolygon => "MultiPolygon",
            _ => "GeometryCollection",
        };
    }

    /// <summary>
    /// One column of the pending row group. Values are kept packed (nulls left out) beside their
    /// definition levels (0 null, 1 present), the form a Parquet page stores, in arrays reused from row
    /// group to row group, so Parquet.Net does not pack them again and this side allocates nothing per row group.
    /// </summary>
    private abstract class ColumnBuffer
    {
        private int[] _levels = new int[1024];

        protected int Rows { get; private set; }

        protected int Present { get; private set; }

        /// <summary>Adds the row's value of column <paramref name="column"/>; returns its estimated size in bytes.</summary>
        public int Add(IRowView row, int column)
        {
            if (Rows == _levels.Length)
            {
                Array.Resize(ref _levels, NextLength(_levels.Length));
            }

            if (row.IsNull(column))
            {
                _levels[Rows++] = 0;
                return NullBytes;
            }

            _levels[Rows++] = 1;
            var bytes = AddValue(row, column, Present);
            Present++;
            return bytes;
        }

        /// <summary>As <see cref="Add(IRowView, int)"/>, for a row of a batch that holds this file's columns (<paramref name="view"/> is that row).</summary>
        public int Add(RowBatch batch, int row, IRowView view, int column)
        {
            if (Rows == _levels.Length)
            {
                Array.Resize(ref _levels, NextLength(_levels.Length));
            }

            if (batch.IsNull(row, column))
            {
                _levels[Rows++] = 0;
                return NullBytes;
            }

            _levels[Rows++] = 1;
            var bytes = AddValue(batch, row, view, column, Present);
            Present++;
            return bytes;
        }

        protected abstract int AddValue(IRowView row, int column, int slot);

        /// <summary>A present value of a batch row; through the view unless the buffer reads the batch's words.</summary>
        protected virtual int AddValue(RowBatch batch, int row, IRowView view, int column, int slot) => AddValue(view, column, slot);

        /// <summary>What a null adds to the row group's estimated size (as much as a value for fixed-size types, a length's 4 bytes otherwise).</summary>
        protected virtual int NullBytes => 4;

        public abstract Task WriteAsync(ParquetRowGroupWriter group, DataField field);

        protected ReadOnlyMemory<int> Levels => _levels.AsMemory(0, Rows);

        public virtual void Clear()
        {
            Rows = 0;
            Present = 0;
        }

        protected static void EnsureRoom<T>(ref T[] values, int slot)
        {
            if (slot == values.Length)
            {
                Array.Resize(ref values, NextLength(values.Length));
            }
        }

        // Past the first 1024 rows straight to a full default row group: each doubling on the way
        // would leave a large array behind as garbage (about 20 MB for six text columns), which only a
        // full collection frees and which so counted in peak RSS.
        private static int NextLength(int length) => length < MaxRowGroupRows ? MaxRowGroupRows : length * 2;
    }

    /// <param name="read">The value through the row's typed getter.</param>
    /// <param name="size">Its estimated size in bytes.</param>
    /// <param name="fromWord">The value from the 64-bit word a <see cref="RowBatch"/> keeps for it, or null when the kind has no word.</param>
    private sealed class ValueBuffer<T>(Func<IRowView, int, T> read, int size, Func<long, T>? fromWord = null) : ColumnBuffer
        where T : struct
    {
        private T[] _values = new T[1024];

        protected override int NullBytes => size;

        protected override int AddValue(IRowView row, int column, int slot)
        {
            EnsureRoom(ref _values, slot);
            _values[slot] = read(row, column);
            return size;
        }

        protected override int AddValue(RowBatch batch, int row, IRowView view, int column, int slot)
        {
            if (fromWord is null)
            {
                return AddValue(view, column, slot);
            }

            EnsureRoom(ref _values, slot);
            _values[slot] = fromWord(batch.WordAt(row, column));
            return size;
        }

        public override Task WriteAsync(ParquetRowGroupWriter group, DataField field) =>
            group.WriteAllPartsAsync(field, new ReadOnlyMemory<T>(_values, 0, Present), Levels, null, CancellationToken.None);
    }

    private sealed class BlobBuffer(Func<IRowView, int, byte[]> read) : ColumnBuffer
    {
        private readonly List<byte[]?> _values = new(1024);

        // The byte[] overload takes nulls in place; Parquet.Net makes the levels of it.
        protected override int AddValue(IRowView row, int column, int slot)
        {
            var blob = read(row, column);
            _values.Add(blob);
            return blob.Length + 4;
        }

        public override Task WriteAsync(ParquetRowGroupWriter group, DataField field)
        {
            var levels = Levels.Span;
            var values = new List<byte[]?>(levels.Length);
            var next = 0;
            foreach (var level in levels)
            {
                values.Add(level == 0 ? null : _values[next++]);
            }

            return group.WriteAsync(field, values);
        }

        public override void Clear()
        {
            base.Clear();
            _values.Clear();
        }
    }

    /// <summary>
    /// A text column of a row group: each value a slice of a chunk of chars, the chunks reused from
    /// row group to row group, so steady state allocates nothing per value (a string each cost about
    /// 40 bytes of garbage and its share of the GC).
    /// </summary>
    private sealed class TextBuffer(Func<TextBuffer, IRowView, int, int> add) : ColumnBuffer
    {
        private const int ChunkChars = 128 * 1024;
        private readonly List<char[]> _chunks = [];
        private ReadOnlyMemory<char>[] _values = new ReadOnlyMemory<char>[1024];
        private int _chunk = -1;
        private int _position = ChunkChars;
        private int _slot;

        protected override int AddValue(IRowView row, int column, int slot)
        {
            EnsureRoom(ref _values, slot);
            _slot = slot;
            return add(this, row, column) + 4;
        }

        /// <summary>The value as UTF-16 (decoded as <see cref="IRowView.GetString"/> does); returns its length in chars.</summary>
        public int AddUtf8(ReadOnlySpan<byte> utf8)
        {
            var chars = Reserve(Encoding.UTF8.GetMaxCharCount(utf8.Length), out var chunk, out var start);
            var length = Encoding.UTF8.GetChars(utf8, chars);
            return Commit(chunk, start, length);
        }

        public int AddGuid(Guid value)
        {
            var chars = Reserve(36, out var chunk, out var start);
            value.TryFormat(chars, out var length, "D");
            return Commit(chunk, start, length);
        }

        private Span<char> Reserve(int maxChars, out char[] chunk, out int start)
        {
            if (_chunk < 0 || _chunks[_chunk].Length - _position < maxChars)
            {
                _chunk++;
                _position = 0;
                if (_chunk == _chunks.Count)
                {
                    _chunks.Add(new char[Math.Max(ChunkChars, maxChars)]);
                }
                else if (_chunks[_chunk].Length < maxChars)
                {
                    _chunks[_chunk] = new char[maxChars];
                }
            }

            chunk = _chunks[_chunk];
            start = _position;
            return chunk.AsSpan(start, maxChars);
        }

        private int Commit(char[] chunk, int start, int length)
        {
            _position = start + length;
            _values[_slot] = new ReadOnlyMemory<char>(chunk, start, length);
            return length;
        }

        public override Task WriteAsync(ParquetRowGroupWriter group, DataField field) =>
            group.WriteAllPartsAsync(field, new ReadOnlyMemory<ReadOnlyMemory<char>>(_values, 0, Present), Levels, null, CancellationToken.None);

        public override void Clear()
        {
            base.Clear();
            _chunk = -1;
            _position = ChunkChars;
        }
    }
}
