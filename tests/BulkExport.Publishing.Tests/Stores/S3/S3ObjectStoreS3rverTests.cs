using System.Security.Cryptography;
using System.Text;
using Amazon.S3;
using Amazon.S3.Model;
using BulkExport.Api;
using BulkExport.Publishing.Stores;
using BulkExport.Publishing.Stores.S3;
using BulkExport.Tests.Shared;

namespace BulkExport.Publishing.Tests.Stores.S3;

/// <summary>Against a real S3 implementation (s3rver) with compatibility: Legacy, as such stores need.</summary>
[Collection(S3rverCollection.Name)]
public sealed class S3ObjectStoreS3rverTests(S3rverFixture s3) : IDisposable
{
    private readonly string _prefix = "t-" + Guid.NewGuid().ToString("N")[..8] + "/";
    private readonly List<string> _files = [];

    private S3StorageSpec Spec(string compatibility = S3Compatibility.Legacy) => new()
    {
        Bucket = S3rverFixture.Bucket,
        Prefix = _prefix,
        Endpoint = s3.Endpoint,
        Region = "us-east-1",
        ForcePathStyle = true,
        Compatibility = compatibility,
        PartSize = "5Mi",
        UploadConcurrency = 4,
    };

    private S3ObjectStore Store(S3StoreOptions? options = null, string compatibility = S3Compatibility.Legacy) =>
        new(Spec(compatibility), S3rverFixture.Credentials, options: options ?? new S3StoreOptions { RetryBaseDelay = TimeSpan.FromMilliseconds(10) });

    private string RandomFile(int bytes)
    {
        var path = Path.GetTempFileName();
        _files.Add(path);
        var data = new byte[bytes];
        new Random(bytes).NextBytes(data);
        File.WriteAllBytes(path, data);
        return path;
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    [Fact]
    public async Task PutFile_40MB_Multipart_RoundTripsByteExact_WithSizeAndSha256Metadata()
    {
        var path = RandomFile(40 * 1024 * 1024 + 12345);
        var sha = Sha256(path);
        using var store = Store();

        await store.PutFileAsync("DAR/V1/Big.zip", path, sha, "application/zip", CancellationToken.None);

        var back = await store.GetBytesAsync("DAR/V1/Big.zip", CancellationToken.None);
        Assert.NotNull(back);
        Assert.Equal(new FileInfo(path).Length, back.Length);
        Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(back)));

        await using (var stream = await store.OpenReadAsync("DAR/V1/Big.zip", CancellationToken.None))
        {
            Assert.Equal(sha, Convert.ToHexStringLower(await SHA256.HashDataAsync(stream)));
        }

        // The checksum travels as user metadata, where any S3 client sees it.
        using var raw = new AmazonS3Client(S3rverFixture.Credentials, new AmazonS3Config { ServiceURL = s3.Endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        var head = await raw.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = S3rverFixture.Bucket, Key = _prefix + "DAR/V1/Big.zip" });
        Assert.Equal(sha, head.Metadata["x-amz-meta-sha256"]);
        Assert.Equal("application/zip", head.Headers.ContentType);
    }

    [Fact]
    public async Task PutFile_Small_UsesOnePut_AndVerifies()
    {
        var path = RandomFile(1000);
        using var store = Store();
        await store.PutFileAsync("small.zip", path, Sha256(path), "application/zip", CancellationToken.None);
        Assert.Equal(await File.ReadAllBytesAsync(path), await store.GetBytesAsync("small.zip", CancellationToken.None));
    }

    [Fact]
    public async Task PutBytes_GetBytes_AndMissingIsNull()
    {
        using var store = Store();
        await store.PutBytesAsync("DAR/catalog.json", Encoding.UTF8.GetBytes("""{"files":[]}"""), "application/json", CancellationToken.None);
        Assert.Equal("""{"files":[]}""", Encoding.UTF8.GetString((await store.GetBytesAsync("DAR/catalog.json", CancellationToken.None))!));
        Assert.Null(await store.GetBytesAsync("DAR/missing.json", CancellationToken.None));
        var ex = await Assert.ThrowsAsync<StoreException>(() => store.OpenReadAsync("DAR/missing.json", CancellationToken.None));
        Assert.False(ex.Transient);
        Assert.Equal($"s3://exports/{_prefix}DAR/catalog.json", store.Describe("DAR/catalog.json"));
    }

    [Fact]
    public async Task List_WithPrefix_ReturnsRelativeKeysAndSizes()
    {
        using var store = Store();
        foreach (var key in new[] { "DAR/V1/A/1.zip", "DAR/V1/A/2.zip", "DAR/V1/B/1.zip", "BBR/V1/A/1.zip" })
        {
            await store.PutBytesAsync(key, new byte[key.Length], "application/zip", CancellationToken.None);
        }

        var listed = new List<StoredObject>();
        await foreach (var item in store.ListAsync("DAR/V1/", CancellationToken.None))
        {
            listed.Add(item);
        }

        Assert.Equal(["DAR/V1/A/1.zip", "DAR/V1/A/2.zip", "DAR/V1/B/1.zip"], listed.Select(o => o.Key).Order(StringComparer.Ordinal));
        Assert.All(listed, o => Assert.Equal(o.Key.Length, o.Size));
        Assert.All(listed, o => Assert.InRange(o.LastModified, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5)));
    }

    [Fact]
    public async Task Delete_RemovesKeys_AndMissingKeysAreNotAnError()
    {
        using var store = Store();
        await store.PutBytesAsync("gone/1", new byte[] { 1 }, "application/octet-stream", CancellationToken.None);
        await store.PutBytesAsync("gone/2", new byte[] { 2 }, "application/octet-stream", CancellationToken.None);
        await store.PutBytesAsync("kept/3", new byte[] { 3 }, "application/octet-stream", CancellationToken.None);

        await store.DeleteAsync(["gone/1", "gone/2", "gone/never-existed"], CancellationToken.None);

        Assert.Null(await store.GetBytesAsync("gone/1", CancellationToken.None));
        Assert.Null(await store.GetBytesAsync("gone/2", CancellationToken.None));
        Assert.NotNull(await store.GetBytesAsync("kept/3", CancellationToken.None));
    }

    [Fact]
    public async Task TransientFailures_AreRetried_ThenSucceed()
    {
        var path = RandomFile(12 * 1024 * 1024);
        var sha = Sha256(path);
        // Three 503 SlowDown answers, spread over whatever requests come first (initiate, parts).
        using var faults = new FaultInjectingHandler(3);
        using var store = Store(new S3StoreOptions { RetryBaseDelay = TimeSpan.FromMilliseconds(10), HttpClientFactory = new HandlerHttpClientFactory(faults) });

        await store.PutFileAsync("retried.zip", path, sha, "application/zip", CancellationToken.None);

        Assert.Equal(3, faults.Injected);
        Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData((await store.GetBytesAsync("retried.zip", CancellationToken.None))!)));
    }

    [Fact]
    public async Task PersistentFailure_EndsInATransientStoreException()
    {
        using var faults = new FaultInjectingHandler(int.MaxValue);
        using var store = Store(new S3StoreOptions { MaxRetryAttempts = 2, RetryBaseDelay = TimeSpan.FromMilliseconds(5), HttpClientFactory = new HandlerHttpClientFactory(faults) });
        var ex = await Assert.ThrowsAsync<StoreException>(() => store.PutBytesAsync("x", new byte[] { 1 }, "application/octet-stream", CancellationToken.None));
        Assert.True(ex.Transient);
        Assert.Equal(3, faults.Requests);
        Assert.Contains("SlowDown", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoreDiagnostics_ReportsThatS3rverIgnoresConditionalWrites()
    {
        using var store = Store();
        var result = await StoreDiagnostics.CheckConditionalWritesAsync(store, CancellationToken.None);
        Assert.False(result.Passed);
        Assert.Contains("If-None-Match", result.Detail, StringComparison.Ordinal);
        await foreach (var leftover in store.ListAsync(StoreDiagnostics.ProbePrefix, CancellationToken.None))
        {
            Assert.Fail($"probe left behind: {leftover.Key}");
        }
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(6 * 1024 * 1024)]
    public async Task StandardCompatibility_AgainstS3rver_CorruptionIsCaughtByVerification_AndTheObjectRemoved(int bytes)
    {
        // s3rver stores the SDK's aws-chunked framing as object bytes; the HEAD check after upload sees the size differ.
        var path = RandomFile(bytes);
        using var store = Store(compatibility: S3Compatibility.Standard);
        var ex = await Assert.ThrowsAsync<StoreException>(() => store.PutFileAsync("std.zip", path, Sha256(path), "application/zip", CancellationToken.None));
        Assert.False(ex.Transient);
        Assert.Contains("did not verify", ex.Message, StringComparison.Ordinal);
        Assert.Contains("compatibility: Legacy", ex.Message, StringComparison.Ordinal);
        Assert.Null(await store.GetBytesAsync("std.zip", CancellationToken.None));
    }

    public void Dispose()
    {
        foreach (var file in _files)
        {
            File.Delete(file);
        }
    }
}
