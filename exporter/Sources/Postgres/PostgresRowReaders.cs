using System.Diagnostics;
using Npgsql;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources.Postgres;

/// <summary>Turns the wire values (already cast by <see cref="PostgresQueryPlan"/>) into the kinds' CLR values.</summary>
internal static class PostgresValues
{
    public static object? Convert(ValueRead read, object value) => read switch
    {
        ValueRead.DecimalText => new DecimalText((string)value),
        ValueRead.RawJson => new RawJson((string)value),
        ValueRead.TimestampTz => ToUtc((DateTime)value),
        ValueRead.LongArray => Box((long?[])value),
        ValueRead.Int4Array => Array.ConvertAll((int?[])value, v => v is { } x ? (object)(long)x : null),
        ValueRead.Int2Array => Array.ConvertAll((short?[])value, v => v is { } x ? (object)(long)x : null),
        ValueRead.DoubleArray => Box((double?[])value),
        ValueRead.BoolArray => Box((bool?[])value),
        ValueRead.TextArray => Box((string?[])value),
        ValueRead.DecimalArray => Array.ConvertAll((string?[])value, s => s is null ? null : (object)new DecimalText(s)),
        ValueRead.JsonArray => Array.ConvertAll((string?[])value, s => s is null ? null : (object)new RawJson(s)),
        ValueRead.DateArray => Box((DateOnly?[])value),
        ValueRead.TimestampArray => Box((DateTime?[])value),
        ValueRead.TimestampTzArray => Array.ConvertAll((DateTime?[])value, d => d is { } t ? (object)ToUtc(t) : null),
        ValueRead.UuidArray => Box((Guid?[])value),
        ValueRead.BytesArray => Box((byte[]?[])value),
        _ => value,
    };

    public static DateTimeOffset ToUtc(DateTime value) =>
        new(DateTime.SpecifyKind(value, DateTimeKind.Utc), TimeSpan.Zero);

    private static object?[] Box<T>(T[] values)
    {
        var result = new object?[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            result[i] = values[i];
        }

        return result;
    }
}

/// <summary>Common life cycle: hands the connection back to the snapshot when done, counts rows.</summary>
internal abstract class PostgresRowReader : IRowReader, IRowReaderOrdering, IChangeTrackingReader
{
    private readonly PostgresSnapshot.Lease _lease;
    private readonly Stopwatch _elapsed = Stopwatch.StartNew();
    private bool _completed;
    private bool _disposed;

    protected PostgresRowReader(PostgresSnapshot.Lease lease, string entityName, PostgresQueryPlan plan, bool sorted)
    {
        _lease = lease;
        EntityName = entityName;
        Plan = plan;
        Columns = [.. plan.Columns.Select(c => c.Column)];
        IsSortedByKey = sorted;
    }

    public IReadOnlyList<Column> Columns { get; }

    public object?[] Current { get; protected set; } = [];

    public bool IsSortedByKey { get; }

    public long Rows { get; private set; }

    /// <summary>One more row was read (for the log and for naming a failing row).</summary>
    protected void CountRow() => Rows++;

    /// <summary>The statement this reader streams (diagnostics, bench).</summary>
    public string Sql => Plan.Select;

    protected string EntityName { get; }

    protected PostgresQueryPlan Plan { get; }

    protected PostgresSnapshot.Lease Lease => _lease;

    public byte[]? Watermark => Plan.Watermark;

    public bool ChangedRowsOnly => Plan.ChangedRowsOnly;

    /// <summary>Every row is complete unless the plan reads changed rows only, which only the raw decoder does.</summary>
    public virtual bool IsChanged(int row) => true;

    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            return false;
        }

        try
        {
            if (await ReadRowAsync(cancellationToken).ConfigureAwait(false))
            {
                return true;
            }
        }
        catch (Exception ex) when (PostgresErrors.IsDatabaseError(ex))
        {
            throw _lease.Snapshot.Errors.Classify(ex, EntityName, "reading rows");
        }
        catch (ValueReadException ex)
        {
            throw Unreadable(ex);
        }

        Finished();
        return false;
    }

    /// <summary>Adds rows to <paramref name="batch"/> until it is full or the rows end; false at the end with none added.</summary>
    public async ValueTask<bool> ReadBatchAsync(RowBatch batch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            return false;
        }

        var before = batch.Count;
        bool more;
        try
        {
            more = await FillBatchAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (PostgresErrors.IsDatabaseError(ex))
        {
            throw _lease.Snapshot.Errors.Classify(ex, EntityName, "reading rows");
        }
        catch (ValueReadException ex)
        {
            throw Unreadable(ex);
        }

        if (!batch.IsFull)
        {
            // Short of full only at the end of the rows.
            Finished();
        }

        return more && batch.Count > before;
    }

    private void Finished()
    {
        _completed = true;
        _lease.Snapshot.Logger.ReadFinished(EntityName, Rows, _elapsed.Elapsed.TotalSeconds);
    }

    // A value the mapping cannot represent, e.g. a multi-dimensional array: the data must change, not the timing.
    private SourceException Unreadable(ValueReadException ex) => new(
        $"PostgreSQL source, entity '{EntityName}': row {Rows + 1}{DescribeKey(ex.Row, ex.Column)}: column '{Columns[ex.Column].Name}' has a value that cannot be read: {ex.InnerException!.Message}",
        transient: false, ex.InnerException);

    /// <summary>Reads one row into <see cref="Current"/>, counting it (<see cref="CountRow"/>).</summary>
    protected abstract ValueTask<bool> ReadRowAsync(CancellationToken cancellationToken);

    /// <summary>Decodes rows straight into a batch, counting each; false once the rows have ended and none was added.</summary>
    protected virtual async ValueTask<bool> FillBatchAsync(RowBatch batch, CancellationToken cancellationToken)
    {
        var added = false;
        while (!batch.IsFull && await ReadRowAsync(cancellationToken).ConfigureAwait(false))
        {
            batch.AddBoxed(Current);
            added = true;
        }

        return added;
    }

    /// <summary>", key id=7" from the key columns read before the failing one; empty when none were.</summary>
    private string DescribeKey(object?[] row, int failedColumn)
    {
        var parts = new List<string>();
        for (var i = 0; i < failedColumn; i++)
        {
            if (Plan.KeyColumns.Contains(Columns[i].Name))
            {
                parts.Add($"{Columns[i].Name}={Convert.ToString(row[i], System.Globalization.CultureInfo.InvariantCulture)}");
            }
        }

        return parts.Count == 0 ? "" : $", key {string.Join(", ", parts)}";
    }

    protected abstract ValueTask CloseAsync(bool completed);

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            await CloseAsync(_completed).ConfigureAwait(false);
        }
        catch (Exception ex) when (PostgresErrors.IsDatabaseError(ex))
        {
            // An abandoned COPY ends in a cancellation error; the savepoint rollback below recovers.
            _lease.Snapshot.Logger.ReaderCloseFailed(EntityName, ex.GetType().Name);
        }

        await _lease.ReturnAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}

/// <summary>Streams <c>COPY (SELECT …) TO STDOUT (FORMAT BINARY)</c>: Npgsql buffers one network read at a time.</summary>
internal sealed class CopyRowReader : PostgresRowReader
{
    private readonly NpgsqlBinaryExporter _exporter;
    private readonly NpgsqlTypes.NpgsqlDbType[] _wireTypes;
    private readonly ValueRead[] _reads;
    private readonly PostgisText?[] _geometryText;

    private CopyRowReader(PostgresSnapshot.Lease lease, string entityName, PostgresQueryPlan plan, bool sorted, NpgsqlBinaryExporter exporter)
        : base(lease, entityName, plan, sorted)
    {
        _exporter = exporter;
        _reads = [.. plan.Columns.Select(c => c.Read)];
        _wireTypes = [.. _reads.Select(PostgresQueryPlan.WireType)];
        _geometryText = [.. plan.Columns.Select(c => c.Read == ValueRead.Geometry ? new PostgisText(plan.SpatialRefSys, c.Geography) : null)];
    }

    public static async ValueTask<CopyRowReader> StartAsync(PostgresSnapshot.Lease lease, string entityName, PostgresQueryPlan plan, bool sorted, CancellationToken cancellationToken)
    {
        var exporter = await lease.Connection
            .BeginBinaryExportAsync($"COPY ({plan.Select}) TO STDOUT (FORMAT BINARY)", cancellationToken)
            .ConfigureAwait(false);
        // A sorted COPY may think for minutes before its first row; the job's deadline bounds it instead.
        exporter.Timeout = Timeout.InfiniteTimeSpan;
        return new CopyRowReader(lease, entityName, plan, sorted, exporter);
    }

    protected override async ValueTask<bool> ReadRowAsync(CancellationToken cancellationToken)
    {
        // Waiting for a row (a sort, a slow server) is asynchronous; the values of a row that has started
        // are read synchronously, which on 1M bench rows was up to 1.8x faster than ReadAsync per value
        // (bench/README.md) and can block only briefly, for the rest of a row straddling a network read.
        if (await _exporter.StartRowAsync(cancellationToken).ConfigureAwait(false) < 0)
        {
            return false;
        }

        var row = new object?[_reads.Length];
        for (var i = 0; i < _reads.Length; i++)
        {
            try
            {
                row[i] = ReadValue(i);
            }
            catch (InvalidCastException e)
            {
                throw new ValueReadException(row, i, e);
            }
        }

        Current = row;
        CountRow();
        return true;
    }

    private object? ReadValue(int i)
    {
        var read = _reads[i];
        if (_exporter.IsNull)
        {
            _exporter.Skip();
            if (read == ValueRead.Geometry)
            {
                // EWKB and ST_NPoints are null together.
                _exporter.Skip();
            }

            return null;
        }

        var type = _wireTypes[i];
        return read switch
        {
            ValueRead.Geometry => ReadGeometry(_geometryText[i]!),
            ValueRead.Long => _exporter.Read<long>(type),
            ValueRead.Double => _exporter.Read<double>(type),
            ValueRead.Bool => _exporter.Read<bool>(type),
            ValueRead.Text => _exporter.Read<string>(type),
            ValueRead.DecimalText or ValueRead.RawJson => PostgresValues.Convert(read, _exporter.Read<string>(type)),
            ValueRead.Date => _exporter.Read<DateOnly>(type),
            ValueRead.Timestamp => DateTime.SpecifyKind(_exporter.Read<DateTime>(type), DateTimeKind.Unspecified),
            ValueRead.TimestampTz => PostgresValues.ToUtc(_exporter.Read<DateTime>(type)),
            ValueRead.Uuid => _exporter.Read<Guid>(type),
            ValueRead.Bytes => _exporter.Read<byte[]>(type),
            ValueRead.LongArray => PostgresValues.Convert(read, _exporter.Read<long?[]>(type)),
            ValueRead.Int4Array => PostgresValues.Convert(read, _exporter.Read<int?[]>(type)),
            ValueRead.Int2Array => PostgresValues.Convert(read, _exporter.Read<short?[]>(type)),
            ValueRead.DoubleArray => PostgresValues.Convert(read, _exporter.Read<double?[]>(type)),
            ValueRead.BoolArray => PostgresValues.Convert(read, _exporter.Read<bool?[]>(type)),
            ValueRead.TextArray or ValueRead.DecimalArray or ValueRead.JsonArray => PostgresValues.Convert(read, _exporter.Read<string?[]>(type)),
            ValueRead.DateArray => PostgresValues.Convert(read, _exporter.Read<DateOnly?[]>(type)),
            ValueRead.TimestampArray or ValueRead.TimestampTzArray => PostgresValues.Convert(read, _exporter.Read<DateTime?[]>(type)),
            ValueRead.UuidArray => PostgresValues.Convert(read, _exporter.Read<Guid?[]>(type)),
            ValueRead.BytesArray => PostgresValues.Convert(read, _exporter.Read<byte[]?[]>(type)),
            _ => throw new InvalidOperationException($"unhandled read {read}"),
        };
    }

    private GeometryValue ReadGeometry(PostgisText text)
    {
        var ewkb = _exporter.Read<byte[]>(NpgsqlTypes.NpgsqlDbType.Bytea);
        var points = _exporter.Read<int>(NpgsqlTypes.NpgsqlDbType.Integer);
        text.Render(ewkb, points);
        return new GeometryValue(System.Text.Encoding.UTF8.GetString(text.GeoJson), System.Text.Encoding.UTF8.GetString(text.Wkt), text.Srid);
    }

    protected override ValueTask CloseAsync(bool completed) => _exporter.DisposeAsync();
}

/// <summary>The value of column <see cref="Column"/> could not be read; <see cref="Row"/> holds the columns read before it.</summary>
internal sealed class ValueReadException(object?[] row, int column, Exception inner) : Exception(inner.Message, inner)
{
    public object?[] Row { get; } = row;

    public int Column { get; } = column;
}
