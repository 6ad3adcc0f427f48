using BulkExport.Api;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace BulkExport.Exporter.Sources.Postgres;

/// <summary>
/// Reads entities from PostgreSQL. Each generation reads one REPEATABLE READ, READ ONLY transaction;
/// parallel readers join it through <c>pg_export_snapshot()</c>, so every entity shows the same instant.
/// </summary>
internal sealed class PostgresSource : ISource
{
    private const int CopyReadBufferSize = 256 * 1024;

    private readonly PostgresSourceSpec _spec;
    private readonly Dictionary<string, EntitySpec> _entities;
    private readonly string _connectionString;
    private readonly ILogger _logger;
    private readonly PostgresErrors _errors;

    public PostgresSource(PostgresSourceSpec spec, IReadOnlyList<EntitySpec> entities, string connectionString, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(entities);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        _spec = spec;
        _entities = entities.ToDictionary(e => e.Name, StringComparer.Ordinal);
        _logger = logger ?? NullLogger.Instance;

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException ex)
        {
            // The parser's message may quote the offending fragment, which may be the password: say only what is wrong.
            throw new SourceException($"PostgreSQL source: the connection string is malformed ({ex.GetType().Name})", transient: false);
        }

        // Timestamptz values and their text are UTC, whatever the server or role default.
        builder.Timezone = "UTC";
        builder.ApplicationName ??= "bulkexport-exporter";
        // Snapshot connections live for one generation; a pool would only keep idle sessions on the server.
        builder.Pooling = false;
        if (builder.KeepAlive == 0)
        {
            builder.KeepAlive = 30;
        }

        // A COPY streams hundreds of MB through this buffer: Npgsql's default (8 KB) costs a socket read and a
        // copy-out call per 8 KB; 256 KB (the raw reader's own buffer) cuts those calls 32-fold. A connection
        // string asking for more keeps its value.
        builder.ReadBufferSize = Math.Max(builder.ReadBufferSize, CopyReadBufferSize);

        _errors = new PostgresErrors($"{builder.Host}:{builder.Port}/{builder.Database}", builder.Password);
        _connectionString = builder.ConnectionString;
    }

    public int MaxParallelReaders => Math.Max(1, _spec.Parallelism);

    /// <summary>Which decoder reads the COPY streams (tests compare the raw one with Npgsql's).</summary>
    internal PostgresCopyDecoder Decoder { get; init; } = PostgresCopyDecoder.Raw;

    /// <summary>
    /// The connection string from <c>BULKEXPORT_POSTGRES_CONNECTION</c>, or else from the file named by
    /// <c>BULKEXPORT_POSTGRES_CONNECTION_FILE</c> (a mounted secret).
    /// </summary>
    public static string ResolveConnectionString(Func<string, string?>? getEnvironment = null)
    {
        getEnvironment ??= Environment.GetEnvironmentVariable;
        var direct = getEnvironment(ExporterEnvironment.PostgresConnectionString);
        if (!string.IsNullOrWhiteSpace(direct))
        {
            return direct.Trim();
        }

        var file = getEnvironment(ExporterEnvironment.PostgresConnectionStringFile);
        if (!string.IsNullOrWhiteSpace(file))
        {
            string text;
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new SourceException(
                    $"PostgreSQL source: cannot read the connection string file '{file}' named by {ExporterEnvironment.PostgresConnectionStringFile}: {ex.Message}",
                    transient: false, ex);
            }

            if (string.IsNullOrWhiteSpace(text))
            {
                throw new SourceException(
                    $"PostgreSQL source: the connection string file '{file}' named by {ExporterEnvironment.PostgresConnectionStringFile} is empty",
                    transient: false);
            }

            return text.Trim();
        }

        throw new SourceException(
            $"PostgreSQL source: no connection string; set {ExporterEnvironment.PostgresConnectionString} " +
            $"or {ExporterEnvironment.PostgresConnectionStringFile} (a file holding it)",
            transient: false);
    }

    public async ValueTask<ISourceSnapshot> OpenSnapshotAsync(CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using (var begin = new NpgsqlCommand("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", connection))
            {
                await begin.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            // now() is the transaction's start time; the first query of a REPEATABLE READ transaction takes
            // its snapshot, so this statement fixes both at once.
            var parallel = MaxParallelReaders > 1;
            var sql = parallel ? "SELECT now(), pg_export_snapshot()" : "SELECT now(), NULL::text";
            DateTimeOffset pointInTime;
            string? snapshotId;
            await using (var query = new NpgsqlCommand(sql, connection))
            await using (var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                pointInTime = PostgresValues.ToUtc(reader.GetFieldValue<DateTime>(0));
                snapshotId = reader.IsDBNull(1) ? null : reader.GetString(1);
            }

            _logger.SnapshotOpened(_errors.Target, pointInTime, MaxParallelReaders, snapshotId);
            return new PostgresSnapshot(_connectionString, connection, pointInTime, snapshotId, MaxParallelReaders,
                _entities, _errors, _logger) { Decoder = Decoder };
        }
        catch (Exception ex) when (PostgresErrors.IsDatabaseError(ex))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw _errors.Classify(ex, null, "opening the snapshot");
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
