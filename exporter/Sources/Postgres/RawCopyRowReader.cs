using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;
using Npgsql;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources.Postgres;

/// <summary>Which decoder turns a binary COPY into rows.</summary>
internal enum PostgresCopyDecoder
{
    /// <summary>The exporter's own PGCOPY parser, straight into typed batches (<see cref="RawCopyRowReader"/>).</summary>
    Raw,

    /// <summary>Npgsql's <see cref="NpgsqlBinaryExporter"/>, one boxed value at a time: the reference the raw decoder is tested against.</summary>
    Npgsql,
}

/// <summary>
/// Streams <c>COPY (SELECT …) TO STDOUT (FORMAT BINARY)</c> through Npgsql's raw copy stream and parses
/// the PGCOPY format itself (signature, flags, header extension; per tuple an int16 field count and
/// per field an int32 length, -1 for NULL, and the value's binary send form), decoding every value
/// straight into a <see cref="RowBatch"/>: text stays the server's UTF-8, numbers and times are
/// converted without boxing. Npgsql's exporter allocated a string per text value and a box per value.
/// </summary>
/// <remarks>
/// The projection (<see cref="PostgresQueryPlan"/>) casts every column to one of a handful of wire
/// types, so each field's type is known. Values equal what <see cref="CopyRowReader"/> (Npgsql) gives,
/// including ±infinity of date and timestamps as the CLR's Min/MaxValue; differential tests compare both.
/// </remarks>
internal sealed class RawCopyRowReader : PostgresRowReader, IRowBatchReader
{
    private static readonly byte[] Signature = [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0];

    // 2000-01-01, PostgreSQL's epoch for dates and timestamps.
    private const int EpochDayNumber = 730119;
    private const long EpochTicks = 630822816000000000L;

    private readonly ValueRead[] _reads;
    private readonly int _geometryColumns;
    private NpgsqlRawCopyStream _stream;
    // Whether the COPY's statement has each geometry's ST_NPoints after its EWKB (Plan.Select) or not
    // (Plan.SelectWithoutPointCounts), and so how many fields a tuple has.
    private bool _pointCounts;
    private int _fields;
    // After a restart with point counts: tuples to pass over (rows already read) and a copy of the tuple
    // that needed the counts, which the first tuple read after them must equal.
    private long _skip;
    private byte[]? _resumeAt;
    private readonly PostgisText?[] _geometryText;
    private byte[] _buffer = new byte[256 * 1024];
    private int _start;
    private int _end;
    private bool _headerRead;
    private bool _ended;
    private RowBatch? _single;
    // Per row of the batch being filled, the trailing changed flag of a changed-rows read (plan.ChangedRowsOnly).
    private bool[] _changed = [];

    private RawCopyRowReader(PostgresSnapshot.Lease lease, string entityName, PostgresQueryPlan plan, bool sorted, NpgsqlRawCopyStream stream, bool pointCounts)
        : base(lease, entityName, plan, sorted)
    {
        _stream = stream;
        _reads = [.. plan.Columns.Select(c => c.Read)];
        _geometryColumns = _reads.Count(r => r == ValueRead.Geometry);
        _pointCounts = pointCounts;
        _fields = plan.Columns.Sum(c => c.Projection.Count) - (pointCounts ? 0 : _geometryColumns) + (plan.ChangedRowsOnly ? 1 : 0);
        _geometryText = [.. plan.Columns.Select(c => c.Read == ValueRead.Geometry ? new PostgisText(plan.SpatialRefSys, c.Geography) : null)];
    }

    public static async ValueTask<RawCopyRowReader> StartAsync(PostgresSnapshot.Lease lease, string entityName, PostgresQueryPlan plan, bool sorted, CancellationToken cancellationToken)
    {
        // Without point counts where the plan allows it: most geometries render from their EWKB alone.
        var select = plan.SelectWithoutPointCounts ?? plan.Select;
        var stream = await BeginCopyAsync(lease, select, cancellationToken).ConfigureAwait(false);
        return new RawCopyRowReader(lease, entityName, plan, sorted, stream, pointCounts: select == plan.Select);
    }

    private static async ValueTask<NpgsqlRawCopyStream> BeginCopyAsync(PostgresSnapshot.Lease lease, string select, CancellationToken cancellationToken)
    {
        var stream = await lease.Connection
            .BeginRawBinaryCopyAsync($"COPY ({select}) TO STDOUT (FORMAT BINARY)", cancellationToken)
            .ConfigureAwait(false);
        // A sorted COPY may think for minutes before its first row; the job's deadline bounds it instead.
        stream.ReadTimeout = Timeout.Infinite;
        return stream;
    }

    /// <summary>One row at a time (the <see cref="IRowReader"/> contract), boxed from a one-row batch.</summary>
    protected override async ValueTask<bool> ReadRowAsync(CancellationToken cancellationToken)
    {
        _single ??= new RowBatch(Columns, 1);
        _single.Clear();
        if (!await FillBatchAsync(_single, cancellationToken).ConfigureAwait(false) || _single.Count == 0)
        {
            return false;
        }

        var view = _single.View(0);
        var row = new object?[Columns.Count];
        for (var i = 0; i < row.Length; i++)
        {
            row[i] = view.GetValue(i);
        }

        Current = row;
        return true;
    }

    /// <summary>Decodes whole tuples into <paramref name="batch"/> until it is full or the COPY ends.</summary>
    /// <remarks>
    /// The first bytes (the header arrives with the first tuple, after a sort or a slow plan) are awaited;
    /// the tuples after them are read synchronously. Npgsql's raw stream returns one CopyData message, i.e.
    /// one row, per call, and its <c>ReadAsync</c> cost an async state machine and a cancellation
    /// registration each: 46 MB allocated and ~6% of the exporter's CPU per 1M rows (bench/README.md).
    /// A synchronous read is not cancellable by itself, so the token cancels the COPY on the server (the
    /// stream's <see cref="NpgsqlRawCopyStream.Cancel"/>), which ends the blocked read with an error that
    /// becomes the <see cref="OperationCanceledException"/> the awaited read gave.
    /// </remarks>
    protected override async ValueTask<bool> FillBatchAsync(RowBatch batch, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (!_headerRead)
            {
                await ReadHeaderAsync(cancellationToken).ConfigureAwait(false);
            }

            if (FillBatch(batch, cancellationToken) is { } more)
            {
                return more;
            }

            await RestartWithPointCountsAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The statement without point counts met a geometry only its ST_NPoints can render (an all-NaN point:
    /// <c>POINT EMPTY</c> or <c>POINT(NaN NaN)</c>, the same EWKB). Rare, so instead of projecting the count
    /// for every row, this COPY is cancelled and the statement with counts read from the start in the same
    /// snapshot and key order, passing over the rows already read; the tuple that needed the count is kept
    /// to prove the rows line up.
    /// </summary>
    private async ValueTask RestartWithPointCountsAsync(CancellationToken cancellationToken)
    {
        var length = TupleLength();
        _resumeAt = _buffer.AsSpan(_start, length).ToArray();
        _skip = Rows;
        try
        {
            await _stream.CancelAsync().ConfigureAwait(false);
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException || PostgresErrors.IsDatabaseError(e))
        {
            // The cancelled COPY's "canceling statement due to user request": expected.
        }

        try
        {
            await Lease.RollBackToSavepointAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.QueryCanceled && !cancellationToken.IsCancellationRequested)
        {
            // The cancel reached the server after the COPY had ended and hit the rollback instead: once more.
            await Lease.RollBackToSavepointAsync(cancellationToken).ConfigureAwait(false);
        }

        _stream = await BeginCopyAsync(Lease, Plan.Select, cancellationToken).ConfigureAwait(false);
        _pointCounts = true;
        _fields += _geometryColumns;
        _start = 0;
        _end = 0;
        _headerRead = false;
        _ended = false;
        Lease.Snapshot.Logger.ReadRestartedWithPointCounts(EntityName, Rows);
    }

    /// <summary>Fills <paramref name="batch"/> from the buffered and blocking-read tuples; null when the COPY must be restarted with point counts.</summary>
    private bool? FillBatch(RowBatch batch, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // One registration per batch, not per row: the callback only asks the server to stop.
        using var cancel = cancellationToken.UnsafeRegister(static state => ((RawCopyRowReader)state!).CancelCopy(), this);
        try
        {
            while (!batch.IsFull && !_ended)
            {
                var length = TupleLength();
                if (length < 0)
                {
                    // The tuple (or its length words) straddles the buffer's end: read on, keeping its start.
                    ReadMore(-length);
                    continue;
                }

                if (length == 0)
                {
                    if (_skip > 0 || _resumeAt is not null)
                    {
                        throw new InvalidDataException($"Read again with point counts, the COPY ended {_skip} rows before the row it was restarted for.");
                    }

                    _ended = true;
                    break;
                }

                var tuple = _buffer.AsSpan(_start, length);
                if (_skip > 0)
                {
                    _skip--;
                    _start += length;
                    continue;
                }

                if (_resumeAt is not null)
                {
                    CheckResumedAt(tuple);
                }

                if (!DecodeTuple(batch, tuple))
                {
                    return null;
                }

                _start += length;
                CountRow();
            }
        }
        catch (Exception e) when (cancellationToken.IsCancellationRequested && (e is OperationCanceledException || PostgresErrors.IsDatabaseError(e)))
        {
            // The server's "canceling statement due to user request", or the connection Npgsql broke when
            // the server did not answer the cancel in time: the caller asked for it, as with an awaited read.
            throw new OperationCanceledException("The COPY was cancelled.", e, cancellationToken);
        }

        return !_ended || batch.Count > 0;
    }

    private void CancelCopy()
    {
        try
        {
            _stream.Cancel();
        }
        catch (Exception e) when (e is ObjectDisposedException || PostgresErrors.IsDatabaseError(e))
        {
            // The COPY has ended or the connection is gone: nothing is left to cancel.
        }
    }

    private async ValueTask ReadHeaderAsync(CancellationToken cancellationToken)
    {
        // Signature (11 bytes), flags (int32), header extension length (int32) and the extension.
        while (_end - _start < 19)
        {
            await ReadMoreAsync(19, cancellationToken).ConfigureAwait(false);
        }

        var header = _buffer.AsSpan(_start);
        if (!header[..11].SequenceEqual(Signature))
        {
            throw new InvalidDataException("The binary COPY stream does not start with the PGCOPY signature.");
        }

        var flags = BinaryPrimitives.ReadInt32BigEndian(header[11..]);
        if ((flags & (1 << 16)) != 0)
        {
            throw new InvalidDataException("The binary COPY stream carries OIDs, which the exporter did not ask for.");
        }

        var extension = BinaryPrimitives.ReadInt32BigEndian(header[15..]);
        while (_end - _start < 19 + extension)
        {
            await ReadMoreAsync(19 + extension, cancellationToken).ConfigureAwait(false);
        }

        _start += 19 + extension;
        _headerRead = true;
    }

    /// <summary>
    /// The length of the tuple at the buffer's start when all of it is there; 0 for the trailer (-1
    /// field count); otherwise minus the bytes needed to know more.
    /// </summary>
    private int TupleLength()
    {
        var data = _buffer.AsSpan(_start, _end - _start);
        if (data.Length < 2)
        {
            return -2;
        }

        var count = BinaryPrimitives.ReadInt16BigEndian(data);
        if (count == -1)
        {
            return 0;
        }

        if (count != _fields)
        {
            throw new InvalidDataException($"A binary COPY tuple has {count} fields where the projection has {_fields}.");
        }

        var at = 2;
        for (var f = 0; f < count; f++)
        {
            if (data.Length - at < 4)
            {
                return -(at + 4);
            }

            var length = BinaryPrimitives.ReadInt32BigEndian(data[at..]);
            at += 4;
            if (length > 0)
            {
                if ((long)at + length > int.MaxValue / 2)
                {
                    throw new InvalidDataException("A binary COPY tuple is larger than 1 GB.");
                }

                at += length;
            }
        }

        return at <= data.Length ? at : -at;
    }

    /// <summary>Awaits until at least <paramref name="needed"/> bytes from the current tuple's start are buffered.</summary>
    private async ValueTask ReadMoreAsync(int needed, CancellationToken cancellationToken)
    {
        MakeRoom(needed);
        while (_end - _start < needed)
        {
            Received(await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false));
        }
    }

    /// <summary>Reads (blocking) until at least <paramref name="needed"/> bytes from the current tuple's start are buffered.</summary>
    private void ReadMore(int needed)
    {
        MakeRoom(needed);
        while (_end - _start < needed)
        {
            Received(_stream.Read(_buffer.AsSpan(_end)));
        }
    }

    /// <summary>Grows or compacts the buffer so that <paramref name="needed"/> bytes from the current tuple's start fit.</summary>
    private void MakeRoom(int needed)
    {
        if (needed > _buffer.Length)
        {
            var grown = new byte[Math.Max(needed, _buffer.Length * 2)];
            _buffer.AsSpan(_start, _end - _start).CopyTo(grown);
            _end -= _start;
            _start = 0;
            _buffer = grown;
        }
        else if (_buffer.Length - _start < needed)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }
    }

    private void Received(int read)
    {
        if (read == 0)
        {
            throw new InvalidDataException("The binary COPY stream ended inside a tuple (no trailer).");
        }

        _end += read;
    }

    /// <summary>
    /// The tuple read again with point counts must be the one the restart was for: the same bytes in every
    /// field but the counts. A key that is not unique (ties in the order) could otherwise shift the rows.
    /// </summary>
    private void CheckResumedAt(ReadOnlySpan<byte> tuple)
    {
        var before = _resumeAt.AsSpan();
        int at = 2, beforeAt = 2;
        for (var c = 0; c < _reads.Length; c++)
        {
            var field = NextField(tuple, ref at);
            var beforeField = NextField(before, ref beforeAt);
            if (field.IsNull != beforeField.IsNull || (!field.IsNull && !field.Bytes(tuple).SequenceEqual(beforeField.Bytes(before))))
            {
                throw new InvalidDataException("Read again with point counts, the COPY's rows are not in the same order (is the key unique?).");
            }

            if (_reads[c] == ValueRead.Geometry)
            {
                NextField(tuple, ref at);
            }
        }

        _resumeAt = null;
    }

    /// <summary>Decodes one tuple into a new row of <paramref name="batch"/>; false, with no row added, when a geometry needs the point counts this COPY lacks.</summary>
    private bool DecodeTuple(RowBatch batch, ReadOnlySpan<byte> tuple)
    {
        var row = batch.AddRow();
        var at = 2;
        for (var c = 0; c < _reads.Length; c++)
        {
            var read = _reads[c];
            try
            {
                var value = NextField(tuple, ref at);
                if (read == ValueRead.Geometry)
                {
                    // EWKB and ST_NPoints (when projected): null together. The text is ASCII, but for a spatial_ref_sys name.
                    var points = _pointCounts ? NextField(tuple, ref at) : default;
                    if (value.IsNull)
                    {
                        continue;
                    }

                    if (_pointCounts && points.IsNull)
                    {
                        throw new InvalidCastException("the geometry has EWKB but no ST_NPoints");
                    }

                    var text = _geometryText[c]!;
                    if (!text.TryRender(value.Bytes(tuple), _pointCounts ? Int32(points.Bytes(tuple)) : null))
                    {
                        batch.RemoveLastRow();
                        return false;
                    }

                    batch.SetGeometry(row, c, text.GeoJson, text.Wkt, text.Srid, text.GeoJsonShapeMemo);
                    continue;
                }

                if (!value.IsNull)
                {
                    Decode(batch, row, c, read, value.Bytes(tuple));
                }
            }
            catch (Exception e) when (e is InvalidCastException or ArgumentOutOfRangeException or InvalidDataException)
            {
                var before = new object?[_reads.Length];
                var view = batch.View(row);
                for (var i = 0; i < c; i++)
                {
                    before[i] = view.GetValue(i);
                }

                batch.RemoveLastRow();
                throw new ValueReadException(before, c, e is InvalidCastException ? e : new InvalidCastException(e.Message, e));
            }
        }

        if (Plan.ChangedRowsOnly)
        {
            if (_changed.Length < batch.Capacity)
            {
                _changed = new bool[batch.Capacity];
            }

            // Not NULL by construction (a boolean of a comparison on xmin); NULL would count as changed.
            var flag = NextField(tuple, ref at);
            _changed[row] = flag.IsNull || Bool(flag.Bytes(tuple));
        }

        return true;
    }

    public override bool IsChanged(int row) => !Plan.ChangedRowsOnly || _changed[row];

    private static Field NextField(ReadOnlySpan<byte> tuple, ref int at)
    {
        var length = BinaryPrimitives.ReadInt32BigEndian(tuple[at..]);
        at += 4;
        if (length < 0)
        {
            return new Field(-1, 0);
        }

        var field = new Field(at, length);
        at += length;
        return field;
    }

    private readonly record struct Field(int Start, int Length)
    {
        public bool IsNull => Start < 0;

        public ReadOnlySpan<byte> Bytes(ReadOnlySpan<byte> tuple) => tuple.Slice(Start, Length);
    }

    private static void Decode(RowBatch batch, int row, int c, ValueRead read, ReadOnlySpan<byte> value)
    {
        switch (read)
        {
            case ValueRead.Long:
                batch.SetInt64(row, c, Int64(value));
                break;
            case ValueRead.Double:
                batch.SetWord(row, c, ColumnKind.Float, Int64(value));
                break;
            case ValueRead.Bool:
                batch.SetBoolean(row, c, Bool(value));
                break;
            case ValueRead.Text or ValueRead.DecimalText or ValueRead.RawJson:
                if (Utf8.IsValid(value))
                {
                    batch.SetUtf8(row, c, value);
                }
                else
                {
                    // A server in SQL_ASCII can send any bytes; Npgsql decoded them with replacement characters.
                    batch.SetString(row, c, Encoding.UTF8.GetString(value));
                }

                break;
            case ValueRead.Date:
                batch.SetDate(row, c, Date(value));
                break;
            case ValueRead.Timestamp:
                batch.SetTimestamp(row, c, Timestamp(value));
                break;
            case ValueRead.TimestampTz:
                batch.SetTimestampTz(row, c, new DateTimeOffset(Timestamp(value).Ticks, TimeSpan.Zero));
                break;
            case ValueRead.Uuid:
                batch.SetGuid(row, c, Uuid(value));
                break;
            case ValueRead.Bytes:
                batch.SetUtf8(row, c, value);
                break;
            case ValueRead.LongArray or ValueRead.Int4Array or ValueRead.Int2Array when !TryInt64Array(batch, row, c, value, read switch { ValueRead.LongArray => 8, ValueRead.Int4Array => 4, _ => 2 }):
                batch.SetObject(row, c, Array(read, value));
                break;
            case ValueRead.LongArray or ValueRead.Int4Array or ValueRead.Int2Array:
                break;
            default:
                batch.SetObject(row, c, Array(read, value));
                break;
        }
    }

    /// <summary>
    /// A one-dimensional int8, int4 or int2 array (elements of <paramref name="width"/> bytes) without NULL
    /// elements straight into the batch's unboxed integers (the bench's and most tables' integer arrays);
    /// false, with nothing set, for anything else (NULL elements, more dimensions, a malformed value),
    /// which <see cref="Array"/> reads or refuses as before.
    /// </summary>
    private static bool TryInt64Array(RowBatch batch, int row, int c, ReadOnlySpan<byte> value, int width)
    {
        if (value.Length < 12)
        {
            return false;
        }

        var dimensions = BinaryPrimitives.ReadInt32BigEndian(value);
        if (dimensions == 0)
        {
            batch.ReserveInt64Array(row, c, 0);
            return true;
        }

        // The has-null flag (value[4..8]) is not trusted: each element's length is checked below.
        if (dimensions != 1 || value.Length < 20)
        {
            return false;
        }

        var count = BinaryPrimitives.ReadInt32BigEndian(value[12..]);
        var stride = 4 + width;
        if (count < 0 || value.Length != 20 + ((long)count * stride))
        {
            // Not count elements of `width` bytes each (a NULL element is shorter): the general path.
            return false;
        }

        for (var i = 0; i < count; i++)
        {
            if (BinaryPrimitives.ReadInt32BigEndian(value[(20 + (i * stride))..]) != width)
            {
                return false;
            }
        }

        var items = batch.ReserveInt64Array(row, c, count);
        for (var i = 0; i < count; i++)
        {
            var element = value.Slice(24 + (i * stride), width);
            items[i] = width switch
            {
                8 => BinaryPrimitives.ReadInt64BigEndian(element),
                4 => BinaryPrimitives.ReadInt32BigEndian(element),
                _ => BinaryPrimitives.ReadInt16BigEndian(element),
            };
        }

        return true;
    }

    /// <summary>PostgreSQL's binary array: ndim, has-null flag, element OID, (size, lower bound) per dimension, then the elements.</summary>
    private static object?[] Array(ValueRead read, ReadOnlySpan<byte> value)
    {
        if (value.Length < 12)
        {
            throw new InvalidCastException("an array value shorter than its header");
        }

        var dimensions = BinaryPrimitives.ReadInt32BigEndian(value);
        if (dimensions == 0)
        {
            return [];
        }

        if (dimensions != 1)
        {
            throw new InvalidCastException($"a {dimensions}-dimensional array; only one-dimensional arrays can be exported (unnest it or turn it into JSON in the entity's query)");
        }

        var count = BinaryPrimitives.ReadInt32BigEndian(value[12..]);
        var at = 20;
        var items = new object?[count];
        for (var i = 0; i < count; i++)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(value[at..]);
            at += 4;
            if (length < 0)
            {
                continue;
            }

            var element = value.Slice(at, length);
            at += length;
            items[i] = read switch
            {
                ValueRead.LongArray => Int64(element),
                ValueRead.Int4Array => (long)Int32(element),
                ValueRead.Int2Array => (long)Int16(element),
                ValueRead.DoubleArray => BitConverter.Int64BitsToDouble(Int64(element)),
                ValueRead.BoolArray => Bool(element),
                ValueRead.TextArray => Text(element),
                ValueRead.DecimalArray => new DecimalText(Text(element)),
                ValueRead.JsonArray => new RawJson(Text(element)),
                ValueRead.DateArray => Date(element),
                ValueRead.TimestampArray => Timestamp(element),
                ValueRead.TimestampTzArray => new DateTimeOffset(Timestamp(element).Ticks, TimeSpan.Zero),
                ValueRead.UuidArray => Uuid(element),
                ValueRead.BytesArray => element.ToArray(),
                _ => throw new InvalidOperationException($"unhandled read {read}"),
            };
        }

        return items;
    }

    private static string Text(ReadOnlySpan<byte> value) => Encoding.UTF8.GetString(value);

    private static long Int64(ReadOnlySpan<byte> value) =>
        value.Length == 8 ? BinaryPrimitives.ReadInt64BigEndian(value) : throw WrongLength(value, 8);

    private static short Int16(ReadOnlySpan<byte> value) =>
        value.Length == 2 ? BinaryPrimitives.ReadInt16BigEndian(value) : throw WrongLength(value, 2);

    private static int Int32(ReadOnlySpan<byte> value) =>
        value.Length == 4 ? BinaryPrimitives.ReadInt32BigEndian(value) : throw WrongLength(value, 4);

    private static bool Bool(ReadOnlySpan<byte> value) => value.Length == 1 ? value[0] != 0 : throw WrongLength(value, 1);

    private static Guid Uuid(ReadOnlySpan<byte> value) => value.Length == 16 ? new Guid(value, bigEndian: true) : throw WrongLength(value, 16);

    /// <summary>Days since 2000-01-01; ±infinity as <see cref="DateOnly.MaxValue"/>/<see cref="DateOnly.MinValue"/>, as Npgsql maps them.</summary>
    private static DateOnly Date(ReadOnlySpan<byte> value)
    {
        var days = Int32(value);
        return days switch
        {
            int.MaxValue => DateOnly.MaxValue,
            int.MinValue => DateOnly.MinValue,
            _ => (long)days + EpochDayNumber is var n && n >= DateOnly.MinValue.DayNumber && n <= DateOnly.MaxValue.DayNumber
                ? DateOnly.FromDayNumber((int)n)
                : throw new InvalidCastException($"the date is outside the range of .NET dates (years 1 to 9999)"),
        };
    }

    /// <summary>Microseconds since 2000-01-01; ±infinity as <see cref="DateTime.MaxValue"/>/<see cref="DateTime.MinValue"/>, as Npgsql maps them.</summary>
    private static DateTime Timestamp(ReadOnlySpan<byte> value)
    {
        var micros = Int64(value);
        switch (micros)
        {
            case long.MaxValue:
                return DateTime.MaxValue;
            case long.MinValue:
                return DateTime.MinValue;
        }

        var max = (DateTime.MaxValue.Ticks - EpochTicks) / 10;
        var min = (DateTime.MinValue.Ticks - EpochTicks) / 10;
        return micros >= min && micros <= max
            ? new DateTime(EpochTicks + (micros * 10), DateTimeKind.Unspecified)
            : throw new InvalidCastException("the timestamp is outside the range of .NET timestamps (years 1 to 9999)");
    }

    private static InvalidCastException WrongLength(ReadOnlySpan<byte> value, int expected) =>
        new($"a binary value of {value.Length} bytes where {expected} were expected");

    protected override ValueTask CloseAsync(bool completed) => _stream.DisposeAsync();
}
