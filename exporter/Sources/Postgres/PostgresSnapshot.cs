using System.Data;
using BulkExport.Api;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BulkExport.Exporter.Sources.Postgres;

/// <summary>
/// One REPEATABLE READ, READ ONLY transaction and the connections that joined it. Each concurrent read
/// leases its own connection; extra connections are opened on demand, up to <see cref="MaxParallelReaders"/>,
/// and import the first transaction's exported snapshot so they see exactly what it sees.
/// </summary>
internal sealed class PostgresSnapshot : ISourceSnapshot
{
    /// <summary>Every read runs inside this savepoint, so an abandoned or failed read leaves the transaction usable.</summary>
    private const string Savepoint = "bulkexport_read";

    private readonly string _connectionString;
    private readonly string? _snapshotId;
    private readonly IReadOnlyDictionary<string, EntitySpec> _entities;
    private readonly Lock _lock = new();
    private readonly Stack<NpgsqlConnection> _idle = new();
    /// <summary>Connections open or being opened, leased or idle.</summary>
    private int _open = 1;
    private int _leased;
    private bool _disposed;

    public PostgresSnapshot(
        string connectionString,
        NpgsqlConnection first,
        DateTimeOffset pointInTime,
        string? snapshotId,
        int maxParallelReaders,
        IReadOnlyDictionary<string, EntitySpec> entities,
        PostgresErrors errors,
        ILogger logger)
    {
        _connectionString = connectionString;
        _snapshotId = snapshotId;
        _entities = entities;
        Errors = errors;
        Logger = logger;
        PointInTime = pointInTime;
        MaxParallelReaders = maxParallelReaders;
        _idle.Push(first);
    }

    public DateTimeOffset PointInTime { get; }

    public int MaxParallelReaders { get; }

    /// <summary>Which decoder reads the COPY stream; the Npgsql one is the reference the tests compare with.</summary>
    internal PostgresCopyDecoder Decoder { get; init; } = PostgresCopyDecoder.Raw;

    internal PostgresErrors Errors { get; }

    internal ILogger Logger { get; }

    public async ValueTask<IRowReader> ReadAsync(EntitySpec entity, ReadRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entity);
        ArgumentNullException.ThrowIfNull(request);
        if (!_entities.ContainsKey(entity.Name))
        {
            throw new ArgumentException($"entity '{entity.Name}' is not one this source was configured with", nameof(entity));
        }

        var lease = await AcquireAsync(entity.Name, cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(lease.Connection, $"SAVEPOINT {Savepoint}", cancellationToken).ConfigureAwait(false);
            var plan = await PlanAsync(lease.Connection, entity, request, cancellationToken).ConfigureAwait(false);
            if (request.TrackChanges)
            {
                plan = await PostgresChangeTracking.ApplyAsync(lease.Connection, entity, plan, request, Decoder, Logger, cancellationToken).ConfigureAwait(false);
            }

            var sorted = request.SortByKey && entity.Key.Count > 0;
            // The raw decoder starts without the geometries' point counts where the plan allows it.
            Logger.ReadStarted(entity.Name, sorted, Decoder == PostgresCopyDecoder.Raw ? plan.SelectWithoutPointCounts ?? plan.Select : plan.Select);
            return Decoder == PostgresCopyDecoder.Raw
                ? await RawCopyRowReader.StartAsync(lease, entity.Name, plan, sorted, cancellationToken).ConfigureAwait(false)
                : await CopyRowReader.StartAsync(lease, entity.Name, plan, sorted, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (PostgresErrors.IsDatabaseError(ex))
        {
            await lease.ReturnAsync().ConfigureAwait(false);
            throw Errors.Classify(ex, entity.Name, "starting the read");
        }
        catch
        {
            await lease.ReturnAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<PostgresQueryPlan> PlanAsync(NpgsqlConnection connection, EntitySpec entity, ReadRequest request, CancellationToken cancellationToken)
    {
        // SchemaOnly describes the statement without running it: names and types at the cost of one round trip.
        IReadOnlyList<Npgsql.Schema.NpgsqlDbColumn> schema;
        await using (var describe = new NpgsqlCommand($"SELECT * FROM ({PostgresQueryPlan.InnerSelect(entity)}) AS q", connection))
        await using (var reader = await describe.ExecuteReaderAsync(CommandBehavior.SchemaOnly, cancellationToken).ConfigureAwait(false))
        {
            schema = [.. (await reader.GetColumnSchemaAsync(cancellationToken).ConfigureAwait(false)).Cast<Npgsql.Schema.NpgsqlDbColumn>()];
        }

        // The result description has no type modifiers worth showing (numeric(12,2) arrives as numeric); the
        // catalog has them for every column taken straight from a table, and attnotnull with them.
        var fromTables = schema.Where(f => f.TableOID != 0 && f.ColumnAttributeNumber > 0).ToList();
        var catalog = new Dictionary<(uint, short), (string SqlType, bool NotNull)>();
        if (fromTables.Count > 0)
        {
            // Numbers the server just sent, not user input: inlining them is safe and keeps this one statement.
            var pairs = string.Join(", ", fromTables.Select(f => FormattableString.Invariant($"({f.TableOID}::oid, {f.ColumnAttributeNumber}::int2)")).Distinct());
            await using var attributes = new NpgsqlCommand(
                $"SELECT attrelid, attnum, format_type(atttypid, atttypmod), attnotnull FROM pg_catalog.pg_attribute WHERE (attrelid, attnum) IN ({pairs})",
                connection);
            await using var reader = await attributes.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                catalog[(reader.GetFieldValue<uint>(0), reader.GetInt16(1))] = (reader.GetString(2), reader.GetBoolean(3));
            }
        }

        // Nullability only for a table entity: a query's column may come from the outer side of a join.
        var isTable = !string.IsNullOrWhiteSpace(entity.Table);
        var fields = schema.Select(f =>
        {
            (string SqlType, bool NotNull) attribute = default;
            var found = f.TableOID != 0 && catalog.TryGetValue((f.TableOID, (short)(f.ColumnAttributeNumber ?? 0)), out attribute);
            return new PostgresField(
                f.ColumnName,
                f.PostgresType,
                found ? attribute.SqlType! : f.DataTypeName ?? f.PostgresType.DisplayName,
                !(isTable && found && attribute.NotNull));
        }).ToList();

        var plan = PostgresQueryPlan.Build(entity, fields, request);
        return plan.NeedsSpatialRefSys ? plan.With(await SpatialRefSys.LoadAsync(connection, cancellationToken).ConfigureAwait(false)) : plan;
    }

    private async ValueTask<Lease> AcquireAsync(string entityName, CancellationToken cancellationToken)
    {
        int number;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            while (_idle.TryPop(out var idle))
            {
                if (idle.FullState == ConnectionState.Open)
                {
                    _leased++;
                    return new Lease(this, idle);
                }

                // Broken while idle (the server ended the session): its slot may join the snapshot anew.
                _open--;
                idle.Dispose();
            }

            if (_open >= MaxParallelReaders || _snapshotId is null)
            {
                throw new InvalidOperationException(
                    $"entity '{entityName}': {_leased} reads are already open on this snapshot, the most it allows ({MaxParallelReaders})");
            }

            _leased++;
            number = ++_open;
        }

        var connection = new NpgsqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection,
                $"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{_snapshotId}'",
                cancellationToken).ConfigureAwait(false);
            Logger.ReaderJoined(number, _snapshotId);
            return new Lease(this, connection);
        }
        catch (Exception ex)
        {
            lock (_lock)
            {
                _open--;
                _leased--;
            }

            await connection.DisposeAsync().ConfigureAwait(false);
            if (ex is PostgresException { SqlState: PostgresErrorCodes.InvalidParameterValue } gone)
            {
                // The exporting transaction ended (its connection dropped): this generation's snapshot is lost,
                // and a later run gets a new one.
                throw new SourceException(
                    Errors.Redact($"PostgreSQL source, entity '{entityName}': the exported snapshot on {Errors.Target} is gone ({gone.MessageText}) (temporary; retry later)"),
                    transient: true, ex);
            }

            if (PostgresErrors.IsDatabaseError(ex))
            {
                throw Errors.Classify(ex, entityName, "joining the exported snapshot");
            }

            throw;
        }
    }

    private async ValueTask ReleaseAsync(NpgsqlConnection connection)
    {
        try
        {
            await ExecuteAsync(connection, $"ROLLBACK TO SAVEPOINT {Savepoint}; RELEASE SAVEPOINT {Savepoint}", CancellationToken.None)
                .ConfigureAwait(false);
        }
        // Npgsql reports a connection it already knows is broken as InvalidOperationException ("not open").
        catch (Exception ex) when (PostgresErrors.IsDatabaseError(ex) || ex is InvalidOperationException)
        {
            // The connection is gone or its transaction is beyond repair: drop it. A later read may open a new one
            // that joins the exported snapshot, which stays valid while the first connection lives.
            Logger.ConnectionDropped(Errors.Target, ex.GetType().Name);
            lock (_lock)
            {
                _open--;
                _leased--;
            }

            await connection.DisposeAsync().ConfigureAwait(false);
            return;
        }

        lock (_lock)
        {
            _leased--;
            if (!_disposed)
            {
                _idle.Push(connection);
                return;
            }
        }

        await connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>One statement without results on the snapshot's connection (savepoints, settings).</summary>
    internal static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        List<NpgsqlConnection> idle;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            idle = [.. _idle];
            _idle.Clear();
        }

        // Connections still leased are closed when their readers are disposed. Closing ends the read-only
        // transaction; there is nothing to commit.
        foreach (var connection in idle)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A connection lent to one reader until it is disposed.</summary>
    internal sealed class Lease(PostgresSnapshot snapshot, NpgsqlConnection connection)
    {
        private int _returned;

        public PostgresSnapshot Snapshot { get; } = snapshot;

        public NpgsqlConnection Connection { get; } = connection;

        /// <summary>Undoes what the reader's statements did since the read began (an aborted COPY), keeping the savepoint for the next.</summary>
        public Task RollBackToSavepointAsync(CancellationToken cancellationToken) =>
            ExecuteAsync(Connection, $"ROLLBACK TO SAVEPOINT {Savepoint}", cancellationToken);

        public ValueTask ReturnAsync() =>
            Interlocked.Exchange(ref _returned, 1) == 0 ? Snapshot.ReleaseAsync(Connection) : ValueTask.CompletedTask;
    }
}
