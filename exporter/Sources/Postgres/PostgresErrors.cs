using System.Net.Sockets;
using Npgsql;

namespace BulkExport.Exporter.Sources.Postgres;

/// <summary>
/// Turns Npgsql failures into <see cref="SourceException"/>s that name the entity and say whether a
/// later retry can help (exit 75) or a person must act (exit 1). Messages never carry the password.
/// </summary>
internal sealed class PostgresErrors(string target, string? password)
{
    /// <summary>Shorter secrets are not scrubbed: replacing every "a" in a message would destroy it, not protect anything.</summary>
    private const int MinimumRedactedLength = 3;

    /// <summary>host:port/database, for messages.</summary>
    public string Target { get; } = target;

    public static bool IsDatabaseError(Exception ex) =>
        ex is NpgsqlException or TimeoutException or SocketException or IOException or InvalidOperationException { InnerException: NpgsqlException };

    public SourceException Classify(Exception ex, string? entityName, string what)
    {
        var (transient, detail) = Describe(ex);
        var subject = entityName is null ? "PostgreSQL source" : $"PostgreSQL source, entity '{entityName}'";
        var message = $"{subject}: {what} on {Target} failed: {detail}" + (transient ? " (temporary; retry later)" : "");
        return new SourceException(Redact(message), transient, ex);
    }

    public string Redact(string text) =>
        password is { Length: >= MinimumRedactedLength } ? text.Replace(password, "***", StringComparison.Ordinal) : text;

    private static (bool Transient, string Detail) Describe(Exception ex)
    {
        switch (ex)
        {
            case PostgresException pg:
                var transient = IsTransientSqlState(pg.SqlState);
                var detail = pg.SqlState switch
                {
                    PostgresErrorCodes.UndefinedTable => $"relation does not exist ({pg.MessageText})",
                    PostgresErrorCodes.InsufficientPrivilege => $"permission denied ({pg.MessageText})",
                    PostgresErrorCodes.SerializationFailure => $"serialization failure ({pg.MessageText})",
                    _ => pg.MessageText,
                };
                return (transient, $"{detail} [SQLSTATE {pg.SqlState}]");
            case NpgsqlException npgsql:
                return (npgsql.IsTransient || npgsql.InnerException is SocketException or TimeoutException or IOException,
                    Flatten(npgsql));
            case TimeoutException or SocketException or IOException:
                return (true, Flatten(ex));
            default:
                return (false, Flatten(ex));
        }
    }

    private static bool IsTransientSqlState(string sqlState) =>
        sqlState is PostgresErrorCodes.SerializationFailure
            or PostgresErrorCodes.DeadlockDetected
            or PostgresErrorCodes.LockNotAvailable
            or PostgresErrorCodes.QueryCanceled
            or PostgresErrorCodes.AdminShutdown
            or PostgresErrorCodes.CrashShutdown
            or PostgresErrorCodes.CannotConnectNow
            or PostgresErrorCodes.TooManyConnections
            or "25P03"  // idle_in_transaction_session_timeout
            or "72000"  // snapshot_too_old
        || sqlState.StartsWith("08", StringComparison.Ordinal)   // connection exception
        || sqlState.StartsWith("53", StringComparison.Ordinal)   // insufficient resources
        || sqlState.StartsWith("58", StringComparison.Ordinal);  // system error (I/O)

    private static string Flatten(Exception ex)
    {
        var parts = new List<string>();
        for (var e = ex; e is not null && parts.Count < 3; e = e.InnerException)
        {
            if (parts.Count == 0 || !parts[^1].Contains(e.Message, StringComparison.Ordinal))
            {
                parts.Add(e.Message);
            }
        }

        return string.Join(": ", parts);
    }
}
