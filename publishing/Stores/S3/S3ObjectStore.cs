using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using BulkExport.Api;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;

namespace BulkExport.Publishing.Stores.S3;

/// <summary>Knobs the spec does not carry: tests shorten the backoff and inject HTTP faults.</summary>
internal sealed record S3StoreOptions
{
    public int MaxRetryAttempts { get; init; } = 6;

    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Objects larger than this are copied part by part (S3's CopyObject stops at 5 GiB).</summary>
    public long MultipartCopyThreshold { get; init; } = 5L * 1024 * 1024 * 1024;

    public long CopyPartSize { get; init; } = 512L * 1024 * 1024;

    /// <summary>Replaces the SDK's HTTP client (fault injection, request recording).</summary>
    public HttpClientFactory? HttpClientFactory { get; init; }
}

/// <summary>
/// The S3 (and S3-compatible) object store. Every call goes through one retry pipeline (exponential
/// backoff with jitter) that retries 5xx, throttling, timeouts and dropped connections; the SDK's own
/// retries are off so there is one policy, and a final failure is a <see cref="StoreException"/>.
/// </summary>
internal sealed class S3ObjectStore : IObjectStore, IDisposable
{
    /// <summary>S3's smallest part (except the last) and its largest part count.</summary>
    private const long MinimumPartSize = 5L * 1024 * 1024;
    private const int MaximumParts = 10_000;
    private const int DeleteBatchSize = 1000;
    private const string Sha256Metadata = "sha256";

    private readonly AmazonS3Client _client;
    private readonly string _bucket;
    private readonly string _prefix;
    private readonly bool _legacy;
    private readonly long _partSize;
    private readonly int _uploadConcurrency;
    private readonly S3StoreOptions _options;
    private readonly ResiliencePipeline _pipeline;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Protocol _protocol;

    public S3ObjectStore(S3StorageSpec spec, AWSCredentials? credentials, TimeProvider? timeProvider = null, ILogger? logger = null, S3StoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentException.ThrowIfNullOrWhiteSpace(spec.Bucket);
        _options = options ?? new S3StoreOptions();
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        // Presigned URLs name the scheme themselves; the SDK would write https for an http endpoint.
        _protocol = spec.Endpoint is { } endpoint && endpoint.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? Protocol.HTTP : Protocol.HTTPS;
        _bucket = spec.Bucket;
        _prefix = NormalizePrefix(spec.Prefix);
        _legacy = string.Equals(spec.Compatibility, S3Compatibility.Legacy, StringComparison.OrdinalIgnoreCase);
        _partSize = Math.Max(MinimumPartSize, Quantity.TryParse(spec.PartSize, out var partSize) ? partSize : 16L * 1024 * 1024);
        _uploadConcurrency = Math.Max(1, spec.UploadConcurrency);

        var config = new AmazonS3Config
        {
            ForcePathStyle = spec.ForcePathStyle,
            // One retry policy (ours), not the SDK's multiplied by ours.
            MaxErrorRetry = 0,
            Timeout = TimeSpan.FromMinutes(5),
        };
        if (!string.IsNullOrWhiteSpace(spec.Endpoint))
        {
            config.ServiceURL = spec.Endpoint;
            config.AuthenticationRegion = spec.Region ?? "us-east-1";
        }
        else if (!string.IsNullOrWhiteSpace(spec.Region))
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(spec.Region);
        }

        if (_legacy)
        {
            // Stores that predate the 2025 SDK defaults (s3rver, older MinIO/Ceph) store the aws-chunked
            // framing and trailing checksums as object bytes, silently corrupting every upload.
            config.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED;
            config.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED;
        }

        if (_options.HttpClientFactory is not null)
        {
            config.HttpClientFactory = _options.HttpClientFactory;
        }

        _client = credentials is null ? new AmazonS3Client(config) : new AmazonS3Client(credentials, config);

        _pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } ex && !args.Context.CancellationToken.IsCancellationRequested && IsTransient(ex)),
                MaxRetryAttempts = _options.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.RetryBaseDelay,
                MaxDelay = _options.RetryMaxDelay,
                OnRetry = args =>
                {
                    _logger.Retrying(args.AttemptNumber + 1, args.RetryDelay.TotalMilliseconds, Summarize(args.Outcome.Exception));
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    /// <summary>
    /// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), which is also how the
    /// operator passes a secret's values; null lets the SDK's default chain (web identity, instance role) decide.
    /// </summary>
    public static AWSCredentials? CredentialsFromEnvironment(Func<string, string?>? getEnvironment = null)
    {
        getEnvironment ??= Environment.GetEnvironmentVariable;
        var accessKey = getEnvironment(ExporterEnvironment.AwsAccessKeyId);
        var secretKey = getEnvironment(ExporterEnvironment.AwsSecretAccessKey);
        if (string.IsNullOrWhiteSpace(accessKey) || string.IsNullOrWhiteSpace(secretKey))
        {
            return null;
        }

        var token = getEnvironment(ExporterEnvironment.AwsSessionToken);
        return string.IsNullOrWhiteSpace(token)
            ? new BasicAWSCredentials(accessKey, secretKey)
            : new SessionAWSCredentials(accessKey, secretKey, token);
    }

    public long PartSize => _partSize;

    public string Describe(string key) => $"s3://{_bucket}/{_prefix}{key}";

    public Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
        RunAsync("conditional create", key, async token =>
        {
            try
            {
                var request = new PutObjectRequest
                {
                    BucketName = _bucket,
                    Key = FullKey(key),
                    InputStream = AsStream(content),
                    ContentType = ContentTypeFor(key),
                    IfNoneMatch = "*",
                };
                ApplyCompatibility(request);
                await _client.PutObjectAsync(request, token).ConfigureAwait(false);
                return true;
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.PreconditionFailed)
            {
                return false;
            }
        }, cancellationToken);

    public Task PutBytesAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken) =>
        RunAsync("put", key, async token =>
        {
            var request = new PutObjectRequest { BucketName = _bucket, Key = FullKey(key), InputStream = AsStream(content), ContentType = contentType };
            ApplyCompatibility(request);
            await _client.PutObjectAsync(request, token).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public async Task PutFileAsync(string key, string localPath, string sha256Hex, string contentType, CancellationToken cancellationToken)
    {
        var length = new FileInfo(localPath).Length;
        var elapsed = Stopwatch.StartNew();
        if (length < _partSize)
        {
            await RunAsync("put", key, async token =>
            {
                var request = new PutObjectRequest { BucketName = _bucket, Key = FullKey(key), FilePath = localPath, ContentType = contentType };
                request.Metadata[Sha256Metadata] = sha256Hex;
                ApplyCompatibility(request);
                await _client.PutObjectAsync(request, token).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await MultipartUploadAsync(key, localPath, length, sha256Hex, contentType, cancellationToken).ConfigureAwait(false);
        }

        await VerifyAsync(key, length, sha256Hex, cancellationToken).ConfigureAwait(false);
        _logger.Uploaded(Describe(key), length, elapsed.Elapsed.TotalSeconds);
    }

    private async Task MultipartUploadAsync(string key, string localPath, long length, string sha256Hex, string contentType, CancellationToken cancellationToken)
    {
        var partSize = _partSize;
        while ((length + partSize - 1) / partSize > MaximumParts)
        {
            partSize *= 2;
        }

        var parts = (int)((length + partSize - 1) / partSize);
        var initiate = new InitiateMultipartUploadRequest { BucketName = _bucket, Key = FullKey(key), ContentType = contentType };
        initiate.Metadata[Sha256Metadata] = sha256Hex;
        var uploadId = (await RunAsync("start multipart upload", key, t => _client.InitiateMultipartUploadAsync(initiate, t), cancellationToken)
            .ConfigureAwait(false)).UploadId;
        _logger.MultipartStarted(Describe(key), length, parts, partSize, _uploadConcurrency);

        try
        {
            var etags = new PartETag[parts];
            // Each part is read from the file by the SDK (FilePath + FilePosition): memory stays at
            // uploadConcurrency HTTP buffers, never a part in memory, and a retried part re-reads its range.
            await Parallel.ForEachAsync(
                Enumerable.Range(1, parts),
                new ParallelOptions { MaxDegreeOfParallelism = _uploadConcurrency, CancellationToken = cancellationToken },
                async (number, token) =>
                {
                    var offset = (number - 1) * partSize;
                    var size = Math.Min(partSize, length - offset);
                    var response = await RunAsync($"upload part {number}/{parts}", key, t =>
                    {
                        var request = new UploadPartRequest
                        {
                            BucketName = _bucket,
                            Key = FullKey(key),
                            UploadId = uploadId,
                            PartNumber = number,
                            FilePath = localPath,
                            FilePosition = offset,
                            PartSize = size,
                            IsLastPart = number == parts,
                        };
                        ApplyCompatibility(request);
                        return _client.UploadPartAsync(request, t);
                    }, token).ConfigureAwait(false);
                    etags[number - 1] = new PartETag(number, response.ETag);
                }).ConfigureAwait(false);

            await RunAsync("complete multipart upload", key, t => _client.CompleteMultipartUploadAsync(
                new CompleteMultipartUploadRequest { BucketName = _bucket, Key = FullKey(key), UploadId = uploadId, PartETags = [.. etags] }, t),
                cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await AbortAsync(key, uploadId).ConfigureAwait(false);
            throw;
        }
    }

    private async Task AbortAsync(string key, string uploadId)
    {
        try
        {
            // Not the caller's token: a cancelled run must still release the parts it stored.
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await RunAsync("abort multipart upload", key, t => _client.AbortMultipartUploadAsync(
                new AbortMultipartUploadRequest { BucketName = _bucket, Key = FullKey(key), UploadId = uploadId }, t), timeout.Token).ConfigureAwait(false);
            _logger.MultipartAborted(Describe(key), uploadId);
        }
        catch (Exception ex) when (ex is StoreException or OperationCanceledException)
        {
            // The bucket's lifecycle rule for incomplete uploads is the backstop; the original failure matters more.
            _logger.AbortFailed(Describe(key), uploadId, ex.Message);
        }
    }

    /// <summary>HEAD after upload: the size and checksum the store reports must be what was sent.</summary>
    private async Task VerifyAsync(string key, long length, string sha256Hex, CancellationToken cancellationToken)
    {
        var head = await RunAsync("verify", key, t => _client.GetObjectMetadataAsync(
            new GetObjectMetadataRequest { BucketName = _bucket, Key = FullKey(key) }, t), cancellationToken).ConfigureAwait(false);
        var storedSha = head.Metadata[Sha256Metadata];
        if (head.ContentLength == length && string.Equals(storedSha, sha256Hex, StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        // An object that is not what was sent must not stay published under its final name.
        try
        {
            await DeleteAsync([key], CancellationToken.None).ConfigureAwait(false);
        }
        catch (StoreException)
        {
            // The verification failure below is the error to report.
        }

        throw new StoreException(
            $"S3 upload of {Describe(key)} did not verify: the store reports {head.ContentLength} bytes and sha256 '{storedSha}', " +
            $"expected {length} bytes and '{sha256Hex}'" + (_legacy ? "" : "; an S3-compatible store may need compatibility: Legacy"),
            transient: false);
    }

    public Task<byte[]?> GetBytesAsync(string key, CancellationToken cancellationToken) =>
        RunAsync("get", key, async token =>
        {
            try
            {
                using var response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = FullKey(key) }, token).ConfigureAwait(false);
                using var buffer = new MemoryStream();
                await response.ResponseStream.CopyToAsync(buffer, token).ConfigureAwait(false);
                return buffer.ToArray();
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
                return (byte[]?)null;
            }
        }, cancellationToken);

    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var response = await RunAsync("open", key, t => _client.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = FullKey(key) }, t), cancellationToken)
                .ConfigureAwait(false);
            // Disposing the response stream releases the HTTP connection.
            return response.ResponseStream;
        }
        catch (StoreException ex) when (ex.InnerException is AmazonS3Exception { StatusCode: HttpStatusCode.NotFound })
        {
            throw new StoreException($"{Describe(key)} does not exist", transient: false, ex.InnerException);
        }
    }

    public Task<ObjectRead> ReadAsync(string key, ReadConditions conditions, CancellationToken cancellationToken) =>
        RunAsync("read", key, async token =>
        {
            var request = new GetObjectRequest { BucketName = _bucket, Key = FullKey(key), EtagToNotMatch = conditions.IfNoneMatch };
            if (conditions.Range is { } range)
            {
                request.ByteRange = range.To is { } end ? new Amazon.S3.Model.ByteRange(range.From, end) : new Amazon.S3.Model.ByteRange($"bytes={range.From}-");
            }

            GetObjectResponse response;
            try
            {
                response = await _client.GetObjectAsync(request, token).ConfigureAwait(false);
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotModified)
            {
                return new ObjectRead { Outcome = ReadOutcome.NotModified, ETag = conditions.IfNoneMatch! };
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
                return ObjectRead.NotFound;
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                return new ObjectRead { Outcome = ReadOutcome.RangeNotSatisfiable };
            }

            var modified = response.LastModified is { } m ? new DateTimeOffset(m.ToUniversalTime(), TimeSpan.Zero) : DateTimeOffset.MinValue;
            var length = response.ContentLength;
            var (offset, size) = ParseContentRange(response.ContentRange, length);
            return new ObjectRead
            {
                Outcome = ReadOutcome.Found,
                ETag = response.ETag,
                Size = size,
                LastModified = modified,
                Offset = offset,
                Length = length,
                Content = response.ResponseStream,
            };
        }, cancellationToken);

    /// <summary><c>bytes 10-19/100</c> → (10, 100); no header → the whole object.</summary>
    private static (long Offset, long Size) ParseContentRange(string? header, long length)
    {
        if (string.IsNullOrEmpty(header) || !header.StartsWith("bytes ", StringComparison.OrdinalIgnoreCase))
        {
            return (0, length);
        }

        var dash = header.IndexOf('-', StringComparison.Ordinal);
        var slash = header.IndexOf('/', StringComparison.Ordinal);
        return dash > 6 && slash > dash
            && long.TryParse(header.AsSpan(6, dash - 6), System.Globalization.CultureInfo.InvariantCulture, out var from)
            && long.TryParse(header.AsSpan(slash + 1), System.Globalization.CultureInfo.InvariantCulture, out var total)
            ? (from, total)
            : (0, length);
    }

    public Uri? PresignGet(string key, TimeSpan lifetime, string? downloadName)
    {
        var request = new GetPreSignedUrlRequest
        {
            BucketName = _bucket,
            Key = FullKey(key),
            Verb = HttpVerb.GET,
            Protocol = _protocol,
            Expires = _time.GetUtcNow().UtcDateTime + lifetime,
        };
        if (downloadName is not null)
        {
            request.ResponseHeaderOverrides.ContentDisposition = $"attachment; filename=\"{downloadName}\"";
        }

        return new Uri(_client.GetPreSignedURL(request));
    }

    public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? continuation = null;
        do
        {
            var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = _prefix + prefix, ContinuationToken = continuation };
            var response = await RunAsync("list", prefix, t => _client.ListObjectsV2Async(request, t), cancellationToken).ConfigureAwait(false);
            foreach (var item in response.S3Objects ?? [])
            {
                if (!item.Key.StartsWith(_prefix, StringComparison.Ordinal))
                {
                    continue;
                }

                var modified = item.LastModified is { } m ? new DateTimeOffset(m.ToUniversalTime(), TimeSpan.Zero) : DateTimeOffset.MinValue;
                yield return new StoredObject(item.Key[_prefix.Length..], item.Size ?? 0, modified);
            }

            continuation = response.IsTruncated == true ? response.NextContinuationToken : null;
        }
        while (continuation is not null);
    }

    public async Task CopyAsync(string sourceKey, string targetKey, CancellationToken cancellationToken)
    {
        var head = await RunAsync("copy (head source)", sourceKey, t => _client.GetObjectMetadataAsync(
            new GetObjectMetadataRequest { BucketName = _bucket, Key = FullKey(sourceKey) }, t), cancellationToken).ConfigureAwait(false);
        if (head.ContentLength <= _options.MultipartCopyThreshold)
        {
            // Metadata (the sha256) travels with the default COPY directive.
            await RunAsync("copy", targetKey, t => _client.CopyObjectAsync(new CopyObjectRequest
            {
                SourceBucket = _bucket,
                SourceKey = FullKey(sourceKey),
                DestinationBucket = _bucket,
                DestinationKey = FullKey(targetKey),
            }, t), cancellationToken).ConfigureAwait(false);
            return;
        }

        await MultipartCopyAsync(sourceKey, targetKey, head, cancellationToken).ConfigureAwait(false);
    }

    private async Task MultipartCopyAsync(string sourceKey, string targetKey, GetObjectMetadataResponse head, CancellationToken cancellationToken)
    {
        var length = head.ContentLength;
        var partSize = Math.Max(MinimumPartSize, _options.CopyPartSize);
        while ((length + partSize - 1) / partSize > MaximumParts)
        {
            partSize *= 2;
        }

        var parts = (int)((length + partSize - 1) / partSize);
        var initiate = new InitiateMultipartUploadRequest { BucketName = _bucket, Key = FullKey(targetKey), ContentType = head.Headers.ContentType };
        foreach (var name in head.Metadata.Keys)
        {
            initiate.Metadata[name] = head.Metadata[name];
        }

        var uploadId = (await RunAsync("start multipart copy", targetKey, t => _client.InitiateMultipartUploadAsync(initiate, t), cancellationToken)
            .ConfigureAwait(false)).UploadId;
        try
        {
            var etags = new PartETag[parts];
            await Parallel.ForEachAsync(
                Enumerable.Range(1, parts),
                new ParallelOptions { MaxDegreeOfParallelism = _uploadConcurrency, CancellationToken = cancellationToken },
                async (number, token) =>
                {
                    var first = (number - 1) * partSize;
                    var last = Math.Min(first + partSize, length) - 1;
                    var response = await RunAsync($"copy part {number}/{parts}", targetKey, t => _client.CopyPartAsync(new CopyPartRequest
                    {
                        SourceBucket = _bucket,
                        SourceKey = FullKey(sourceKey),
                        DestinationBucket = _bucket,
                        DestinationKey = FullKey(targetKey),
                        UploadId = uploadId,
                        PartNumber = number,
                        FirstByte = first,
                        LastByte = last,
                    }, t), token).ConfigureAwait(false);
                    etags[number - 1] = new PartETag(number, response.ETag);
                }).ConfigureAwait(false);

            await RunAsync("complete multipart copy", targetKey, t => _client.CompleteMultipartUploadAsync(
                new CompleteMultipartUploadRequest { BucketName = _bucket, Key = FullKey(targetKey), UploadId = uploadId, PartETags = [.. etags] }, t),
                cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await AbortAsync(targetKey, uploadId).ConfigureAwait(false);
            throw;
        }
    }

    public async Task DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        foreach (var batch in keys.Distinct(StringComparer.Ordinal).Chunk(DeleteBatchSize))
        {
            var remaining = batch.Select(FullKey).ToList();
            await RunAsync("delete", batch[0], async token =>
            {
                List<DeleteError> errors;
                try
                {
                    var response = await _client.DeleteObjectsAsync(new DeleteObjectsRequest
                    {
                        BucketName = _bucket,
                        Objects = [.. remaining.Select(k => new KeyVersion { Key = k })],
                        Quiet = true,
                    }, token).ConfigureAwait(false);
                    errors = response.DeleteErrors ?? [];
                }
                catch (DeleteObjectsException ex)
                {
                    // S3 answers 200 even when keys failed, each failure in the body; the SDK raises that as this.
                    errors = ex.Response?.DeleteErrors ?? [];
                }

                var failed = errors.Where(e => e.Code != "NoSuchKey").ToList();
                if (failed.Count == 0)
                {
                    return true;
                }

                remaining = [.. failed.Select(e => e.Key)];
                var transient = failed.All(e => e.Code is "InternalError" or "SlowDown" or "ServiceUnavailable" or "RequestTimeout");
                var sample = string.Join(", ", failed.Take(5).Select(e => $"{e.Key}: {e.Code} {e.Message}"));
                throw new StoreException($"S3 delete failed for {failed.Count} of {batch.Length} keys in s3://{_bucket}: {sample}", transient);
            }, cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _client.Dispose();

    private async Task<T> RunAsync<T>(string operation, string key, Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        try
        {
            return await _pipeline.ExecuteAsync(async token => await action(token).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (StoreException)
        {
            throw;
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or HttpRequestException or IOException or SocketException or TimeoutException or OperationCanceledException)
        {
            var transient = IsTransient(ex);
            throw new StoreException(
                $"S3 {operation} of {Describe(key)} failed: {Summarize(ex)}" + (transient ? " (temporary; retry later)" : ""),
                transient, ex);
        }
    }

    internal static bool IsTransient(Exception ex) => ex switch
    {
        StoreException store => store.Transient,
        AmazonServiceException service when service.StatusCode is >= HttpStatusCode.InternalServerError
            or HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout => true,
        AmazonServiceException service when service.ErrorCode is "SlowDown" or "Throttling" or "ThrottlingException"
            or "RequestTimeout" or "InternalError" or "ServiceUnavailable" or "ConditionalRequestConflict" or "OperationAborted" => true,
        // No HTTP answer at all: the SDK wraps the connection failure.
        AmazonServiceException { StatusCode: 0, InnerException: { } inner } => IsTransient(inner),
        AmazonServiceException => false,
        AmazonClientException { InnerException: { } inner } => IsTransient(inner),
        HttpRequestException or IOException or SocketException or TimeoutException => true,
        // HttpClient's timeout surfaces as a cancellation the caller did not ask for.
        OperationCanceledException => true,
        _ => false,
    };

    private static string Summarize(Exception? ex) => ex switch
    {
        null => "no exception",
        AmazonServiceException service => $"{(int)service.StatusCode} {service.ErrorCode}: {service.Message}",
        _ => ex.InnerException is null ? ex.Message : $"{ex.Message} ({ex.InnerException.Message})",
    };

    private void ApplyCompatibility(PutObjectRequest request)
    {
        if (_legacy)
        {
            request.UseChunkEncoding = false;
        }
    }

    private void ApplyCompatibility(UploadPartRequest request)
    {
        if (_legacy)
        {
            request.UseChunkEncoding = false;
        }
    }

    private string FullKey(string key) => _prefix + key;

    private static string NormalizePrefix(string? prefix)
    {
        var p = (prefix ?? "").Trim().TrimStart('/');
        return p.Length == 0 || p.EndsWith('/') ? p : p + "/";
    }

    private static string ContentTypeFor(string key) =>
        key.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? "application/json" : "application/octet-stream";

    private static MemoryStream AsStream(ReadOnlyMemory<byte> content) =>
        MemoryMarshal.TryGetArray(content, out var segment) && segment.Array is not null
            ? new MemoryStream(segment.Array, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(content.ToArray(), writable: false);
}
