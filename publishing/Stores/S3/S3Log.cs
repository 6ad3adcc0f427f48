using Microsoft.Extensions.Logging;

namespace BulkExport.Publishing.Stores.S3;

internal static partial class S3Log
{
    [LoggerMessage(EventId = 3100, Level = LogLevel.Warning, Message = "S3 request failed, retry {Attempt} in {DelayMs:F0} ms: {Error}")]
    public static partial void Retrying(this ILogger logger, int attempt, double delayMs, string error);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Debug,
        Message = "Multipart upload of {Target}: {Bytes} bytes in {Parts} parts of {PartSize} bytes, {Concurrency} at a time")]
    public static partial void MultipartStarted(this ILogger logger, string target, long bytes, int parts, long partSize, int concurrency);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "Uploaded {Target}: {Bytes} bytes in {Seconds:F1} s, size and sha256 verified")]
    public static partial void Uploaded(this ILogger logger, string target, long bytes, double seconds);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Information, Message = "Aborted multipart upload {UploadId} of {Target}")]
    public static partial void MultipartAborted(this ILogger logger, string target, string uploadId);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Warning,
        Message = "Could not abort multipart upload {UploadId} of {Target}: {Error}; a lifecycle rule for incomplete uploads cleans it up")]
    public static partial void AbortFailed(this ILogger logger, string target, string uploadId, string error);
}
