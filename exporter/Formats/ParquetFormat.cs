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
    private readonly IColumnBuffer[] _buffers;
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
        _buffers = new IColumnBuffer[columns.Count];
        for (var i = 0; i < columns.Count; i++)
        {
            (_fields[i], _buffers[i]) = Field(columns[i]);
        }

        var options = new ParquetOptions
        {
            CompressionMethod = compression == ParquetCompression.Snappy ? CompressionMethod.Snappy : CompressionMethod.Zstd,
            // Parquet.Net's default ("Optimal") is a high zstd level: 10× the CPU of the fastest for a
            // few percent of size (measured: 6 s against 0.6 s for a 100k-row group of six columns).
            CompressionLevel = System.IO.Compression.CompressionLevel.Fastest,
        };
        _stream = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        try
        {
            _writer = ParquetWriter.CreateAsync(new ParquetSchema(_fields), _stream, options).GetAwaiter().GetResult();
        }
        catch
        {
            _stream.Dispose();
            throw;
        }
    }

    public long EstimatedBytes => _stream.Position + _bufferedBytes;

    /// <summary>The Parquet field of a column: exact decimals as DECIMAL(p,s) when the source says p ≤ 28 (System.Decimal), text otherwise.</summary>
    private static (DataField, IColumnBuffer) Field(Column column) => column.Kind switch
    {
        ColumnKind.Integer => (new DataField<long?>(column.Name), new Buffer<long?>()),
        ColumnKind.Float => (new DataField<double?>(column.Name), new Buffer<double?>()),
        ColumnKind.Boolean => (new DataField<bool?>(column.Name), new Buffer<bool?>()),
        ColumnKind.Date => (new DataField<DateOnly?>(column.Name), new Buffer<DateOnly?>()),
        ColumnKind.Timestamp => (new DateTimeDataField(column.Name, DateTimeFormat.Timestamp, isAdjustedToUTC: false, unit: DateTimeTimeUnit.Micros, isNullable: true), new Buffer<DateTime?>()),
        ColumnKind.TimestampTz => (new DateTimeDataField(column.Name, DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: true), new Buffer<DateTime?>()),
        ColumnKind.Decimal when GeoPackageFile.NumericPrecision(column.SqlType) is { Precision: <= 28 } n
            => (new DecimalDataField(column.Name, n.Precision, n.Scale, isNullable: true), new Buffer<decimal?>()),
        ColumnKind.Bytes or ColumnKind.Geometry => (new DataField<byte[]>(column.Name, true), new ClassBuffer<byte[]>()),
        // Text as UTF-16 slices of reused arrays: no string per value (Parquet.Net takes
        // ReadOnlyMemory<char> for a string field and writes the same bytes as for strings).
        _ => (new DataField<string>(column.Name, true), new TextBuffer()),
    };

    public void Write(IRowView row)
    {
        long bytes = 0;
        for (var i = 0; i < _columns.Count; i++)
        {
            var column = _columns[i];
            var isNull = row.IsNull(i);
            switch (_buffers[i])
            {
                case Buffer<long?> b: b.Add(isNull ? null : row.GetInt64(i)); bytes += 8; break;
                case Buffer<double?> b: b.Add(isNull ? null : row.GetDouble(i)); bytes += 8; break;
                case Buffer<bool?> b: b.Add(isNull ? null : row.GetBoolean(i)); bytes += 1; break;
                case Buffer<DateOnly?> b: b.Add(isNull ? null : row.GetDate(i)); bytes += 4; break;
                case Buffer<DateTime?> b:
                    b.Add(isNull ? null : column.Kind == ColumnKind.TimestampTz
                        ? DateTime.SpecifyKind(row.GetTimestampTz(i).UtcDateTime, DateTimeKind.Utc)
                        : DateTime.SpecifyKind(row.GetTimestamp(i), DateTimeKind.Unspecified));
                    bytes += 8;
                    break;
                case Buffer<decimal?> b: b.Add(isNull ? null : ToDecimal(row.GetUtf8(i), column)); bytes += 16; break;
                case ClassBuffer<byte[]> b:
                    var blob = isNull ? null : column.Kind == ColumnKind.Geometry ? Wkb(row.GetGeometryUtf8(i), column, i) : row.GetBytes(i).ToArray();
                    b.Add(blob);
                    bytes += (blob?.Length ?? 0) + 4;
                    break;
                case TextBuffer b:
                    bytes += (isNull ? b.AddNull() : AddText(b, row, i, column)) + 4;
                    break;
                default:
                    throw new InvalidOperationException($"No buffer for column {column.Name}.");
            }
        }

        _buffered++;
        _bufferedBytes += bytes;
        if (_buffered >= _maxRows || _bufferedBytes >= _maxBytes)
        {
            FlushRowGroup();
        }
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

    /// <summary>Adds a text value (UTF-8 decoded as <see cref="IRowView.GetString"/> does) and returns its length in chars.</summary>
    private static int AddText(TextBuffer buffer, IRowView row, int i, Column column) => column.Kind switch
    {
        ColumnKind.Text or ColumnKind.Decimal or ColumnKind.Json => buffer.AddUtf8(row.GetUtf8(i)),
        ColumnKind.Uuid => buffer.AddGuid(row.GetGuid(i)),
        // Arrays as their JSON text, the spelling of the JSON formats.
        _ => buffer.AddUtf8(JsonValues.ToJsonUtf8(column, row.GetValue(i)!)),
    };

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

        var flushed = _bufferedBytes;
        _buffered = 0;
        _bufferedBytes = 0;
        if (flushed >= CollectAfterBytes)
        {
            // Parquet.Net leaves about 1 MB of large-object garbage per column chunk (page and
            // compression buffers), which only a full collection frees; left to the GC's own budget it
            // kept peak RSS about 20 MB higher (1M-row bench: 205 against 185 MB) for no CPU saved.
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

    private interface IColumnBuffer
    {
        Task WriteAsync(ParquetRowGroupWriter group, DataField field);

        void Clear();
    }

    private sealed class Buffer<T> : IColumnBuffer
    {
        private T[] _values = new T[1024];
        private int _count;

        public void Add(T value)
        {
            if (_count == _values.Length)
            {
                Array.Resize(ref _values, _values.Length * 2);
            }

            _values[_count++] = value;
        }

        public Task WriteAsync(ParquetRowGroupWriter group, DataField field) => WriteTyped<T>(group, field, _values.AsMemory(0, _count));

        public void Clear()
        {
            Array.Clear(_values, 0, _count);
            _count = 0;
        }
    }

    /// <summary>
    /// A text column of a row group: each value a slice of a chunk of chars, the chunks reused from
    /// row group to row group, so steady state allocates nothing per value (a string each cost about
    /// 40 bytes of garbage and its share of the GC).
    /// </summary>
    private sealed class TextBuffer : IColumnBuffer
    {
        private const int ChunkChars = 128 * 1024;
        private readonly List<char[]> _chunks = [];
        private ReadOnlyMemory<char>?[] _values = new ReadOnlyMemory<char>?[1024];
        private int _count;
        private int _chunk = -1;
        private int _position = ChunkChars;

        public int AddNull()
        {
            Slot() = null;
            return 0;
        }

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
            Slot() = new ReadOnlyMemory<char>(chunk, start, length);
            return length;
        }

        private ref ReadOnlyMemory<char>? Slot()
        {
            if (_count == _values.Length)
            {
                Array.Resize(ref _values, _values.Length * 2);
            }

            return ref _values[_count++];
        }

        public Task WriteAsync(ParquetRowGroupWriter group, DataField field) => group.WriteAsync(field, new ReadOnlyMemory<ReadOnlyMemory<char>?>(_values, 0, _count));

        public void Clear()
        {
            _count = 0;
            _chunk = -1;
            _position = ChunkChars;
        }
    }

    private sealed class ClassBuffer<T> : IColumnBuffer
        where T : class
    {
        private readonly List<T?> _values = new(1024);

        public void Add(T? value) => _values.Add(value);

        public Task WriteAsync(ParquetRowGroupWriter group, DataField field) => _values switch
        {
            List<byte[]?> b => group.WriteAsync(field, b!),
            _ => throw new InvalidOperationException(typeof(T).Name),
        };

        public void Clear() => _values.Clear();
    }

    private static Task WriteTyped<T>(ParquetRowGroupWriter group, DataField field, Memory<T> values) => (object)values switch
    {
        Memory<long?> v => group.WriteAsync(field, (ReadOnlyMemory<long?>)v),
        Memory<double?> v => group.WriteAsync(field, (ReadOnlyMemory<double?>)v),
        Memory<bool?> v => group.WriteAsync(field, (ReadOnlyMemory<bool?>)v),
        Memory<DateOnly?> v => group.WriteAsync(field, (ReadOnlyMemory<DateOnly?>)v),
        Memory<DateTime?> v => group.WriteAsync(field, (ReadOnlyMemory<DateTime?>)v),
        Memory<decimal?> v => group.WriteAsync(field, (ReadOnlyMemory<decimal?>)v),
        _ => throw new InvalidOperationException(typeof(T).Name),
    };
}
