using System.Globalization;
using System.Text;

namespace BulkExport.Exporter.Rows;

/// <summary>
/// Up to <see cref="Capacity"/> rows of one entity, stored by column without boxing: the fixed-width
/// kinds in typed arrays (Integer, Float, Boolean, Date, Timestamp and TimestampTz as 64-bit words,
/// Uuid as <see cref="Guid"/>), the text-like kinds (Text, Decimal, Json, Bytes) as UTF-8 (raw for
/// Bytes) in one byte arena with per-row offsets, Geometry as its GeoJSON then its WKT (UTF-8) in the
/// arena plus the SRID in a word, and a null bitmap per column. One-dimensional Integer arrays without
/// NULL elements are held unboxed (their elements in one 64-bit arena, <see cref="SetInt64Array"/>); every
/// other array stays boxed (<c>object?[]</c>): the slow path, rare in bulk data.
/// A batch is reused: <see cref="Clear"/> keeps every buffer, so a steady export allocates none per row.
/// </summary>
/// <remarks>
/// A source fills a row with <see cref="AddRow"/> and one setter per column (a column left unset is
/// NULL); readers see a row through <see cref="View"/>, a borrowed <see cref="IRowView"/>.
/// Not thread-safe; the pipeline hands a batch from stage to stage, never shares it.
/// </remarks>
internal sealed class RowBatch
{
    private readonly Column[] _columns;
    private readonly Storage[] _storage;
    private readonly long[]?[] _words;
    private readonly Guid[]?[] _guids;
    private readonly int[]?[] _starts;
    private readonly int[]?[] _lengths;
    // Geometry: the WKT's length; it follows the GeoJSON (_starts, _lengths) in the arena.
    private readonly int[]?[] _wktLengths;
    // Geometry: GeoJsonShape's memo of the GeoJSON, reset when the value is set.
    private readonly int[]?[] _shapes;
    private readonly object?[]?[] _objects;
    // Integer arrays held unboxed: elements of all rows and columns, by _starts/_lengths (a row whose
    // _objects entry is set holds its array boxed instead).
    private long[] _integers = [];
    private int _integersUsed;
    // One bit per row and column, set when the value is present; row-major so a row's bits are adjacent.
    private readonly ulong[] _present;
    private readonly int _wordsPerRow;
    private byte[] _arena;
    private int _arenaUsed;
    private BatchRowView? _view;
    // Encoded records of rows, kept by one encoder for another writer of the same rows (RecordMemo).
    private object? _memoKey;
    private byte[]? _memo;
    private int[]? _memoStart;
    private int[]? _memoLength;
    private int _memoUsed;
    // Per column (allocated on first use), SpellingSlot bytes per row: a length byte, then the text.
    private readonly byte[]?[] _spellings;

    public RowBatch(IReadOnlyList<Column> columns, int capacity, int arenaBytes = 64 * 1024)
    {
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _columns = [.. columns];
        Capacity = capacity;
        var width = _columns.Length;
        _storage = new Storage[width];
        _words = new long[]?[width];
        _guids = new Guid[]?[width];
        _starts = new int[]?[width];
        _lengths = new int[]?[width];
        _wktLengths = new int[]?[width];
        _shapes = new int[]?[width];
        _objects = new object?[]?[width];
        _spellings = new byte[]?[width];
        for (var c = 0; c < width; c++)
        {
            _storage[c] = StorageOf(_columns[c].Kind);
            switch (_storage[c])
            {
                case Storage.Word:
                    _words[c] = new long[capacity];
                    break;
                case Storage.Guid:
                    _guids[c] = new Guid[capacity];
                    break;
                case Storage.Arena:
                    _starts[c] = new int[capacity];
                    _lengths[c] = new int[capacity];
                    break;
                case Storage.Geometry:
                    _starts[c] = new int[capacity];
                    _lengths[c] = new int[capacity];
                    _wktLengths[c] = new int[capacity];
                    _shapes[c] = new int[capacity];
                    // The SRID, or NoSrid.
                    _words[c] = new long[capacity];
                    break;
                default:
                    _objects[c] = new object?[capacity];
                    if (_columns[c] is { Kind: ColumnKind.Array, ElementKind: ColumnKind.Integer })
                    {
                        _starts[c] = new int[capacity];
                        _lengths[c] = new int[capacity];
                    }

                    break;
            }
        }

        _wordsPerRow = (width + 63) / 64;
        _present = new ulong[_wordsPerRow * capacity];
        _arena = new byte[Math.Max(arenaBytes, 256)];
    }

    private enum Storage : byte
    {
        Word,
        Guid,
        Arena,
        Geometry,
        Object,
    }

    // A geometry's SRID word when it has none (an SRID is an int, so no collision).
    private const long NoSrid = long.MinValue;

    public IReadOnlyList<Column> Columns => _columns;

    public int Capacity { get; }

    public int Count { get; private set; }

    public bool IsFull => Count == Capacity;

    /// <summary>Bytes the arena holds now (text and bytes of the rows so far).</summary>
    public int ArenaBytes => _arenaUsed;

    /// <summary>Empties the batch, keeping its buffers. Views and spans handed out before are invalid from here on.</summary>
    public void Clear()
    {
        Array.Clear(_present, 0, Count * _wordsPerRow);
        for (var c = 0; c < _objects.Length; c++)
        {
            if (_objects[c] is { } objects)
            {
                Array.Clear(objects, 0, Count);
            }
        }

        foreach (var spellings in _spellings)
        {
            if (spellings is not null)
            {
                for (var r = 0; r < Count; r++)
                {
                    spellings[r * SpellingSlot] = 0;
                }
            }
        }

        Count = 0;
        _arenaUsed = 0;
        _integersUsed = 0;
        _memoKey = null;
        _memoUsed = 0;
    }

    /// <summary>Room per row and column for a kept spelling: the longest <c>ScalarText</c> writes for a fixed-width kind, and its length byte.</summary>
    private const int SpellingSlot = 40;

    /// <summary>
    /// Keeps the text of a fixed-width scalar (a Float, Date, Timestamp, TimestampTz or Uuid value) as
    /// <c>ScalarText</c> spells it, so the formats copy what the row digest already wrote: a double's
    /// shortest round-trip text costs some twenty times its copy. Text longer than a slot is not kept.
    /// </summary>
    public void KeepSpelling(int row, int column, ReadOnlySpan<byte> text)
    {
        if (text.Length is 0 or >= SpellingSlot)
        {
            return;
        }

        var spellings = _spellings[column] ??= new byte[Capacity * SpellingSlot];
        var slot = spellings.AsSpan(row * SpellingSlot, SpellingSlot);
        slot[0] = (byte)text.Length;
        text.CopyTo(slot[1..]);
    }

    /// <summary>The spelling <see cref="KeepSpelling"/> kept for this value; false when there is none.</summary>
    public bool TryGetSpelling(int row, int column, out ReadOnlySpan<byte> text)
    {
        if (_spellings[column] is { } spellings && spellings[row * SpellingSlot] is var length and > 0)
        {
            text = spellings.AsSpan((row * SpellingSlot) + 1, length);
            return true;
        }

        text = default;
        return false;
    }

    /// <summary>
    /// Keeps the encoded record of row <paramref name="row"/> for <paramref name="key"/> (an encoder's
    /// identity for "these bytes are how I encode this row"), so another writer of the same row with the
    /// same encoding copies them instead of encoding again: a first total writes every row to the delta
    /// and to the total. One key per batch; a record for another key replaces them all.
    /// </summary>
    public void KeepRecord(int row, object key, ReadOnlySpan<byte> record)
    {
        if (!ReferenceEquals(_memoKey, key))
        {
            _memoKey = key;
            _memoUsed = 0;
            _memoStart ??= new int[Capacity];
            _memoLength ??= new int[Capacity];
            Array.Fill(_memoLength, -1);
        }

        _memo ??= new byte[Math.Max(_arena.Length, 1024)];
        if (_memo.Length - _memoUsed < record.Length)
        {
            var grown = new byte[Math.Max(_memo.Length * 2, _memoUsed + record.Length)];
            _memo.AsSpan(0, _memoUsed).CopyTo(grown);
            _memo = grown;
        }

        record.CopyTo(_memo.AsSpan(_memoUsed));
        _memoStart![row] = _memoUsed;
        _memoLength![row] = record.Length;
        _memoUsed += record.Length;
    }

    /// <summary>The record <see cref="KeepRecord"/> kept for <paramref name="row"/> and <paramref name="key"/>; false when there is none.</summary>
    public bool TryGetRecord(int row, object key, out ReadOnlySpan<byte> record)
    {
        if (ReferenceEquals(_memoKey, key) && _memoLength![row] >= 0)
        {
            record = _memo.AsSpan(_memoStart![row], _memoLength[row]);
            return true;
        }

        record = default;
        return false;
    }

    /// <summary>Starts a new row, all NULL until set; returns its index.</summary>
    public int AddRow()
    {
        if (Count == Capacity)
        {
            throw new InvalidOperationException($"The batch is full ({Capacity} rows).");
        }

        return Count++;
    }

    /// <summary>Drops the last row (a source that failed halfway through it).</summary>
    public void RemoveLastRow()
    {
        if (Count == 0)
        {
            return;
        }

        Count--;
        Array.Clear(_present, Count * _wordsPerRow, _wordsPerRow);
        foreach (var spellings in _spellings)
        {
            if (spellings is not null)
            {
                spellings[Count * SpellingSlot] = 0;
            }
        }

        for (var c = 0; c < _objects.Length; c++)
        {
            if (_objects[c] is { } objects)
            {
                objects[Count] = null;
            }
        }
    }

    // Unchecked reads for a caller that has checked the column's kind once for the whole batch (the row
    // digest): no interface call and no kind test per value. The value must be present (IsNull false).

    /// <summary>The 64-bit word of a present Integer, Float, Boolean, Date, Timestamp or TimestampTz value.</summary>
    public long WordAt(int row, int column) => _words[column]![row];

    /// <summary>A present Uuid value.</summary>
    public Guid GuidAt(int row, int column) => _guids[column]![row];

    /// <summary>The bytes of a present Text, Decimal, Json or Bytes value (borrowed like <see cref="IRowView.GetUtf8"/>).</summary>
    public ReadOnlySpan<byte> BytesAt(int row, int column) => _arena.AsSpan(_starts[column]![row], _lengths[column]![row]);

    /// <summary>A present Array value: true with its elements when it is an integer array held unboxed, else false with the boxed <c>object?[]</c>.</summary>
    public bool TryInt64ArrayAt(int row, int column, out ReadOnlySpan<long> values, out object? boxed)
    {
        boxed = _objects[column]![row];
        if (boxed is not null || _starts[column] is not { } starts)
        {
            values = default;
            return false;
        }

        values = _integers.AsSpan(starts[row], _lengths[column]![row]);
        return true;
    }

    /// <summary>A view of row <paramref name="row"/>; the batch's one view, repositioned (valid until the next call or <see cref="Clear"/>).</summary>
    public IRowView View(int row)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Count);
        _view ??= new BatchRowView(this);
        _view.Row = row;
        return _view;
    }

    /// <summary>A second, independent view (e.g. one stage holds a row while another reads others).</summary>
    public BatchRowView CreateView() => new(this);

    public bool IsNull(int row, int column) => (_present[(row * _wordsPerRow) + (column >> 6)] & (1UL << (column & 63))) == 0;

    public void SetNull(int row, int column)
    {
        _present[(row * _wordsPerRow) + (column >> 6)] &= ~(1UL << (column & 63));
        if (_objects[column] is { } objects)
        {
            objects[row] = null;
        }
    }

    private void MarkPresent(int row, int column) => _present[(row * _wordsPerRow) + (column >> 6)] |= 1UL << (column & 63);

    public void SetInt64(int row, int column, long value) => SetWord(row, column, ColumnKind.Integer, value);

    public void SetDouble(int row, int column, double value) => SetWord(row, column, ColumnKind.Float, BitConverter.DoubleToInt64Bits(value));

    public void SetBoolean(int row, int column, bool value) => SetWord(row, column, ColumnKind.Boolean, value ? 1 : 0);

    public void SetDate(int row, int column, DateOnly value) => SetWord(row, column, ColumnKind.Date, value.DayNumber);

    /// <summary>A timestamp without time zone, as ticks (its Kind is dropped: the kind's spelling is Unspecified).</summary>
    public void SetTimestamp(int row, int column, DateTime value) => SetWord(row, column, ColumnKind.Timestamp, value.Ticks);

    public void SetTimestampTz(int row, int column, DateTimeOffset value) => SetWord(row, column, ColumnKind.TimestampTz, value.UtcTicks);

    /// <summary>Sets a 64-bit word as is: Integer, Float bits, Boolean 0/1, Date day number, Timestamp/TimestampTz (UTC) ticks.</summary>
    public void SetWord(int row, int column, ColumnKind expected, long word)
    {
        Expect(column, expected);
        _words[column]![row] = word;
        MarkPresent(row, column);
    }

    public void SetGuid(int row, int column, Guid value)
    {
        Expect(column, ColumnKind.Uuid);
        _guids[column]![row] = value;
        MarkPresent(row, column);
    }

    /// <summary>Sets a Text, Decimal, Json (UTF-8) or Bytes (raw) value by copying it into the arena.</summary>
    public void SetUtf8(int row, int column, ReadOnlySpan<byte> bytes) => bytes.CopyTo(ReserveBytes(row, column, bytes.Length));

    /// <summary>
    /// Room for a Text, Decimal, Json or Bytes value of exactly <paramref name="length"/> bytes in the
    /// arena, to fill before the next call on this batch; the value is present from here on.
    /// </summary>
    public Span<byte> ReserveBytes(int row, int column, int length)
    {
        if (_storage[column] != Storage.Arena)
        {
            throw new InvalidOperationException($"Column '{_columns[column].Name}' ({_columns[column].Kind}) does not hold text or bytes.");
        }

        EnsureArena(length);
        var start = _arenaUsed;
        _arenaUsed += length;
        _starts[column]![row] = start;
        _lengths[column]![row] = length;
        MarkPresent(row, column);
        return _arena.AsSpan(start, length);
    }

    /// <summary>Shortens the last value reserved with <see cref="ReserveBytes"/> (a transcoder that wrote less than it reserved).</summary>
    public void TrimLastReserved(int row, int column, int length)
    {
        var reserved = _lengths[column]![row];
        if (length > reserved || _starts[column]![row] + reserved != _arenaUsed)
        {
            throw new InvalidOperationException("Only the last reserved value can be trimmed, and only shorter.");
        }

        _lengths[column]![row] = length;
        _arenaUsed -= reserved - length;
    }

    public void SetString(int row, int column, string value)
    {
        var span = ReserveBytes(row, column, Encoding.UTF8.GetMaxByteCount(value.Length));
        TrimLastReserved(row, column, Encoding.UTF8.GetBytes(value, span));
    }

    /// <summary>
    /// Sets a Geometry from its UTF-8 GeoJSON and WKT (copied into the arena) and its SRID; a writer that
    /// knows how <see cref="GeoJsonShape"/> recognises its GeoJSON passes that memo (<see cref="GeoJsonShape.PointMemo"/>).
    /// </summary>
    public void SetGeometry(int row, int column, ReadOnlySpan<byte> geoJson, ReadOnlySpan<byte> wkt, int? srid, int geoJsonShapeMemo = GeoJsonShape.UnknownMemo)
    {
        var span = ReserveGeometry(row, column, geoJson.Length, wkt.Length, srid);
        geoJson.CopyTo(span);
        wkt.CopyTo(span[geoJson.Length..]);
        _shapes[column]![row] = geoJsonShapeMemo;
    }

    /// <summary>Sets a Geometry from a boxed <see cref="GeometryValue"/> (the files source, the delta codec), as UTF-8 in the arena.</summary>
    public void SetGeometry(int row, int column, GeometryValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var span = ReserveGeometry(row, column, Encoding.UTF8.GetMaxByteCount(value.GeoJson.Length), Encoding.UTF8.GetMaxByteCount(value.Wkt.Length), value.Srid);
        var json = Encoding.UTF8.GetBytes(value.GeoJson, span);
        var wkt = Encoding.UTF8.GetBytes(value.Wkt, span[json..]);
        _lengths[column]![row] = json;
        _wktLengths[column]![row] = wkt;
        _arenaUsed -= span.Length - json - wkt;
    }

    private Span<byte> ReserveGeometry(int row, int column, int geoJsonLength, int wktLength, int? srid)
    {
        if (_storage[column] != Storage.Geometry)
        {
            throw new InvalidOperationException($"Column '{_columns[column].Name}' ({_columns[column].Kind}) is not a geometry column.");
        }

        var length = geoJsonLength + wktLength;
        EnsureArena(length);
        var start = _arenaUsed;
        _arenaUsed += length;
        _starts[column]![row] = start;
        _lengths[column]![row] = geoJsonLength;
        _wktLengths[column]![row] = wktLength;
        _shapes[column]![row] = GeoJsonShape.UnknownMemo;
        _words[column]![row] = srid ?? NoSrid;
        MarkPresent(row, column);
        return _arena.AsSpan(start, length);
    }

    /// <summary>
    /// Room for a one-dimensional Integer array of <paramref name="count"/> elements, none NULL (a column of
    /// kind Array with element kind Integer), to fill before the next call on this batch; the value is
    /// present from here on. An array with NULL elements or more dimensions is set boxed (<see cref="SetObject"/>).
    /// </summary>
    public Span<long> ReserveInt64Array(int row, int column, int count)
    {
        if (_columns[column] is not { Kind: ColumnKind.Array, ElementKind: ColumnKind.Integer })
        {
            throw new InvalidOperationException($"Column '{_columns[column].Name}' ({_columns[column].Kind}) is not an integer array column.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (_integers.Length - _integersUsed < count)
        {
            var grown = new long[Math.Max(Math.Max(_integers.Length * 2, 4 * Capacity), _integersUsed + count)];
            _integers.AsSpan(0, _integersUsed).CopyTo(grown);
            _integers = grown;
        }

        var start = _integersUsed;
        _integersUsed += count;
        _starts[column]![row] = start;
        _lengths[column]![row] = count;
        _objects[column]![row] = null;
        MarkPresent(row, column);
        return _integers.AsSpan(start, count);
    }

    /// <summary>Sets a one-dimensional Integer array without NULL elements, unboxed (see <see cref="ReserveInt64Array"/>).</summary>
    public void SetInt64Array(int row, int column, ReadOnlySpan<long> values) => values.CopyTo(ReserveInt64Array(row, column, values.Length));

    /// <summary>Sets an Array (<c>object?[]</c>) value, or a Geometry given boxed (<see cref="GeometryValue"/>, stored as <see cref="SetGeometry(int, int, GeometryValue)"/> does).</summary>
    public void SetObject(int row, int column, object value)
    {
        if (_storage[column] == Storage.Geometry)
        {
            SetGeometry(row, column, value as GeometryValue ?? throw Mismatch(value, _columns[column]));
            return;
        }

        if (_storage[column] != Storage.Object)
        {
            throw new InvalidOperationException($"Column '{_columns[column].Name}' ({_columns[column].Kind}) is not stored boxed.");
        }

        _objects[column]![row] = value;
        MarkPresent(row, column);
    }

    /// <summary>
    /// Adds a row of boxed values in <see cref="ColumnKind"/>'s CLR spelling (the spelling the file
    /// source and the delta codec produce). The numeric widenings formats always accepted (an int for
    /// an Integer, a decimal for a Decimal) are accepted here; any other type is refused naming the column.
    /// </summary>
    public int AddBoxed(object?[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length != _columns.Length)
        {
            throw new ArgumentException($"Row has {values.Length} values for {_columns.Length} columns.", nameof(values));
        }

        var row = AddRow();
        try
        {
            for (var c = 0; c < values.Length; c++)
            {
                if (values[c] is { } value)
                {
                    SetBoxed(row, c, value);
                }
            }
        }
        catch
        {
            RemoveLastRow();
            throw;
        }

        return row;
    }

    private void SetBoxed(int row, int c, object value)
    {
        var column = _columns[c];
        switch (column.Kind)
        {
            case ColumnKind.Text:
                SetString(row, c, value as string ?? throw Mismatch(value, column));
                break;
            case ColumnKind.Decimal:
                SetString(row, c, value switch
                {
                    DecimalText d => d.Text,
                    decimal m => m.ToString(CultureInfo.InvariantCulture),
                    long or int or short or sbyte or byte or ushort or uint or ulong => System.Convert.ToString(value, CultureInfo.InvariantCulture)!,
                    string s => s,
                    _ => throw Mismatch(value, column),
                });
                break;
            case ColumnKind.Json:
                SetString(row, c, value is RawJson j ? j.Json : throw Mismatch(value, column));
                break;
            case ColumnKind.Bytes:
                SetUtf8(row, c, value as byte[] ?? throw Mismatch(value, column));
                break;
            case ColumnKind.Integer:
                SetInt64(row, c, BoxedValues.TryInt64(value, out var integer) ? integer : throw Mismatch(value, column));
                break;
            case ColumnKind.Float:
                SetDouble(row, c, BoxedValues.TryDouble(value, out var real) ? real : throw Mismatch(value, column));
                break;
            case ColumnKind.Boolean:
                SetBoolean(row, c, value is bool b2 ? b2 : throw Mismatch(value, column));
                break;
            case ColumnKind.Date:
                SetDate(row, c, value switch
                {
                    DateOnly d => d,
                    DateTime dt => DateOnly.FromDateTime(dt),
                    _ => throw Mismatch(value, column),
                });
                break;
            case ColumnKind.Timestamp:
                SetWord(row, c, ColumnKind.Timestamp, value switch
                {
                    DateTime dt => dt.Ticks,
                    DateTimeOffset dto => dto.DateTime.Ticks,
                    _ => throw Mismatch(value, column),
                });
                break;
            case ColumnKind.TimestampTz:
                SetWord(row, c, ColumnKind.TimestampTz, value switch
                {
                    DateTimeOffset dto => dto.UtcTicks,
                    DateTime { Kind: DateTimeKind.Local } dt => dt.ToUniversalTime().Ticks,
                    // Utc, or Unspecified which sources use for "already UTC".
                    DateTime dt => dt.Ticks,
                    _ => throw Mismatch(value, column),
                });
                break;
            case ColumnKind.Uuid:
                SetGuid(row, c, value is Guid g ? g : throw Mismatch(value, column));
                break;
            case ColumnKind.Geometry:
                SetGeometry(row, c, value as GeometryValue ?? throw Mismatch(value, column));
                break;
            case ColumnKind.Array:
                SetObject(row, c, value is object?[] ? value : throw Mismatch(value, column));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(c), column.Kind, null);
        }
    }

    /// <summary>A value of the wrong type for its column: the one wording the batch, the digest and the formats use.</summary>
    internal static RowValueException Mismatch(object value, Column column) =>
        new($"Column '{column.Name}' of kind {column.Kind} cannot hold a value of type {value.GetType().Name}.");

    private void EnsureArena(int length)
    {
        if (_arena.Length - _arenaUsed >= length)
        {
            return;
        }

        var grown = new byte[Math.Max(_arena.Length * 2, _arenaUsed + length)];
        _arena.AsSpan(0, _arenaUsed).CopyTo(grown);
        _arena = grown;
    }

    private void Expect(int column, ColumnKind kind)
    {
        if (_columns[column].Kind != kind)
        {
            throw new InvalidOperationException($"Column '{_columns[column].Name}' ({_columns[column].Kind}) is not a {kind} column.");
        }
    }

    private static Storage StorageOf(ColumnKind kind) => kind switch
    {
        ColumnKind.Integer or ColumnKind.Float or ColumnKind.Boolean or ColumnKind.Date or ColumnKind.Timestamp or ColumnKind.TimestampTz => Storage.Word,
        ColumnKind.Uuid => Storage.Guid,
        ColumnKind.Text or ColumnKind.Decimal or ColumnKind.Json or ColumnKind.Bytes => Storage.Arena,
        ColumnKind.Geometry => Storage.Geometry,
        _ => Storage.Object,
    };

    /// <summary>A borrowed view of one row of a <see cref="RowBatch"/>: no allocation except where a caller asks for a string or a boxed value.</summary>
    internal sealed class BatchRowView(RowBatch batch) : IRowView
    {
        public int Row { get; set; }

        public RowBatch Batch => batch;

        public IReadOnlyList<Column> Columns => batch._columns;

        public bool IsNull(int column) => batch.IsNull(Row, column);

        public ReadOnlySpan<byte> GetUtf8(int column)
        {
            var kind = Present(column).Kind;
            return kind is ColumnKind.Text or ColumnKind.Decimal or ColumnKind.Json
                ? Arena(column)
                : throw Mismatch(column, "text");
        }

        public string GetString(int column) => Encoding.UTF8.GetString(GetUtf8(column));

        public long GetInt64(int column) => Word(column, ColumnKind.Integer, "integer");

        public double GetDouble(int column) => BitConverter.Int64BitsToDouble(Word(column, ColumnKind.Float, "float"));

        public bool GetBoolean(int column) => Word(column, ColumnKind.Boolean, "boolean") != 0;

        public DateOnly GetDate(int column) => DateOnly.FromDayNumber((int)Word(column, ColumnKind.Date, "date"));

        public DateTime GetTimestamp(int column) => new(Word(column, ColumnKind.Timestamp, "timestamp"), DateTimeKind.Unspecified);

        public DateTimeOffset GetTimestampTz(int column) => new(Word(column, ColumnKind.TimestampTz, "timestamptz"), TimeSpan.Zero);

        public Guid GetGuid(int column) => Present(column).Kind == ColumnKind.Uuid ? batch._guids[column]![Row] : throw Mismatch(column, "uuid");

        public ReadOnlySpan<byte> GetBytes(int column) => Present(column).Kind == ColumnKind.Bytes ? Arena(column) : throw Mismatch(column, "bytes");

        public GeometryValue GetGeometry(int column) => GetGeometryUtf8(column).ToValue();

        public GeometryUtf8 GetGeometryUtf8(int column)
        {
            if (Present(column).Kind != ColumnKind.Geometry)
            {
                throw Mismatch(column, "geometry");
            }

            var start = batch._starts[column]![Row];
            var json = batch._lengths[column]![Row];
            var srid = batch._words[column]![Row];
            return new GeometryUtf8(
                batch._arena.AsSpan(start, json),
                batch._arena.AsSpan(start + json, batch._wktLengths[column]![Row]),
                srid == NoSrid ? null : (int)srid);
        }

        /// <summary>GeoJsonShape's memo of the present geometry at <paramref name="column"/> (its only user).</summary>
        internal int GeoJsonShapeMemo(int column) => batch._shapes[column]![Row];

        internal void SetGeoJsonShapeMemo(int column, int memo) => batch._shapes[column]![Row] = memo;

        public IReadOnlyList<object?> GetArray(int column) =>
            Present(column).Kind == ColumnKind.Array ? ArrayValue(column) : throw Mismatch(column, "array");

        public bool TryGetInt64Array(int column, out ReadOnlySpan<long> values)
        {
            if (Present(column).Kind != ColumnKind.Array || batch._objects[column]![Row] is not null || batch._starts[column] is not { } starts)
            {
                values = default;
                return false;
            }

            values = batch._integers.AsSpan(starts[Row], batch._lengths[column]![Row]);
            return true;
        }

        // An unboxed integer array boxed on demand (formats without an array fast path, GetValue).
        private object?[] ArrayValue(int column)
        {
            if (batch._objects[column]![Row] is object?[] boxed)
            {
                return boxed;
            }

            var values = batch._integers.AsSpan(batch._starts[column]![Row], batch._lengths[column]![Row]);
            var items = new object?[values.Length];
            for (var i = 0; i < items.Length; i++)
            {
                items[i] = values[i];
            }

            return items;
        }

        public object? GetValue(int column)
        {
            if (IsNull(column))
            {
                return null;
            }

            return batch._columns[column].Kind switch
            {
                ColumnKind.Text => GetString(column),
                ColumnKind.Decimal => new DecimalText(GetString(column)),
                ColumnKind.Json => new RawJson(GetString(column)),
                ColumnKind.Bytes => GetBytes(column).ToArray(),
                ColumnKind.Integer => GetInt64(column),
                ColumnKind.Float => GetDouble(column),
                ColumnKind.Boolean => GetBoolean(column),
                ColumnKind.Date => GetDate(column),
                ColumnKind.Timestamp => GetTimestamp(column),
                ColumnKind.TimestampTz => GetTimestampTz(column),
                ColumnKind.Uuid => GetGuid(column),
                ColumnKind.Geometry => GetGeometry(column),
                ColumnKind.Array => ArrayValue(column),
                _ => batch._objects[column]![Row],
            };
        }

        private Column Present(int column)
        {
            var c = batch._columns[column];
            return batch.IsNull(Row, column)
                ? throw new InvalidOperationException($"Column '{c.Name}' ({c.Kind}) is null in this row.")
                : c;
        }

        private long Word(int column, ColumnKind kind, string wanted) =>
            Present(column).Kind == kind ? batch._words[column]![Row] : throw Mismatch(column, wanted);

        private ReadOnlySpan<byte> Arena(int column) =>
            batch._arena.AsSpan(batch._starts[column]![Row], batch._lengths[column]![Row]);

        private InvalidOperationException Mismatch(int column, string wanted) =>
            new($"Column '{batch._columns[column].Name}' ({batch._columns[column].Kind}) is not a {wanted} value.");
    }
}

/// <summary>A source handed a value its column's kind cannot hold (a bug or a schema drift in the source, not a transient failure).</summary>
internal sealed class RowValueException(string message) : InvalidOperationException(message);

/// <summary>A row shown with one more column after its own (a delta record: the row and its operation).</summary>
internal interface IExtendedRowView : IRowView
{
    /// <summary>The row the extra column follows; its columns are the first ones of this view.</summary>
    IRowView Inner { get; }
}
