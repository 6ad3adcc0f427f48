using Microsoft.Extensions.Logging;

namespace BulkExport.Exporter.Sources.Postgres;

internal static partial class PostgresLog
{
    [LoggerMessage(EventId = 2100, Level = LogLevel.Information,
        Message = "PostgreSQL snapshot opened on {Target}: point in time {PointInTime:O}, up to {Readers} parallel readers, exported snapshot {SnapshotId}")]
    public static partial void SnapshotOpened(this ILogger logger, string target, DateTimeOffset pointInTime, int readers, string? snapshotId);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Debug, Message = "Reading entity {Entity} by binary COPY (sorted: {Sorted}): {Sql}")]
    public static partial void ReadStarted(this ILogger logger, string entity, bool sorted, string sql);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information, Message = "Read {Rows} rows of entity {Entity} in {Seconds:F1} s")]
    public static partial void ReadFinished(this ILogger logger, string entity, long rows, double seconds);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Debug, Message = "Closing the reader of entity {Entity} ended with {Error}; the read's savepoint is rolled back")]
    public static partial void ReaderCloseFailed(this ILogger logger, string entity, string error);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning, Message = "A snapshot connection to {Target} was dropped after {Error}")]
    public static partial void ConnectionDropped(this ILogger logger, string target, string error);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Debug, Message = "Reader connection {Number} joined exported snapshot {SnapshotId}")]
    public static partial void ReaderJoined(this ILogger logger, int number, string snapshotId);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Information,
        Message = "Entity {Entity}: reading every key and the rows written since xid {Horizon} (changeDetection xmin, snapshot's next xid {NextXid})")]
    public static partial void ChangedRowsRead(this ILogger logger, string entity, long horizon, long nextXid);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Warning, Message = "Entity {Entity}: changeDetection xmin falls back to a full compare: {Reason}")]
    public static partial void FullCompare(this ILogger logger, string entity, string reason);

    [LoggerMessage(EventId = 2108, Level = LogLevel.Warning,
        Message = "Entity {Entity}: no change-tracking watermark is recorded, so the next delta compares every row: {Reason}")]
    public static partial void NoWatermark(this ILogger logger, string entity, string reason);

    [LoggerMessage(EventId = 2110, Level = LogLevel.Debug, Message = "Entity {Entity}: row {Row} has a geometry only ST_NPoints can render (an empty or NaN point); its COPY restarts with point counts, passing over the rows read")]
    public static partial void ReadRestartedWithPointCounts(this ILogger logger, string entity, long row);
}
