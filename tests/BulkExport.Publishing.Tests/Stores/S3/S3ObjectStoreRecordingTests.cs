using System.Net;
using System.Text;
using System.Xml.Linq;
using Amazon.Runtime;
using BulkExport.Api;
using BulkExport.Publishing.Stores;
using BulkExport.Publishing.Stores.S3;

namespace BulkExport.Publishing.Tests.Stores.S3;

/// <summary>
/// What s3rver cannot show (it ignores If-None-Match, and its CopyObject and batch delete differ from S3):
/// an in-process recording fake asserts the exact requests and headers the store sends.
/// </summary>
public sealed class S3ObjectStoreRecordingTests
{
    private const string Ns = "http://s3.amazonaws.com/doc/2006-03-01/";

    private static S3ObjectStore Store(RecordingHandler handler, string compatibility = S3Compatibility.Legacy, S3StoreOptions? options = null) =>
        new(
            new S3StorageSpec
            {
                Bucket = "bucket",
                Prefix = "root",
                Endpoint = "http://s3.test",
                Region = "eu-north-1",
                ForcePathStyle = true,
                Compatibility = compatibility,
                PartSize = "5Mi",
                UploadConcurrency = 2,
            },
            new BasicAWSCredentials("AKIDTEST", "secret"),
            options: (options ?? new S3StoreOptions()) with
            {
                RetryBaseDelay = TimeSpan.FromMilliseconds(1),
                HttpClientFactory = new HandlerHttpClientFactory(handler),
            });

    [Fact]
    public async Task TryCreate_SendsIfNoneMatchStar_AndMaps412ToFalse_RecordingProxy()
    {
        var calls = 0;
        var handler = new RecordingHandler(_ => ++calls == 1
            ? RecordingHandler.Ok()
            : RecordingHandler.Error(HttpStatusCode.PreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"));
        using var store = Store(handler);

        Assert.True(await store.TryCreateAsync("DAR/generations/0000000001.json", Encoding.UTF8.GetBytes("{}"), CancellationToken.None));
        Assert.False(await store.TryCreateAsync("DAR/generations/0000000001.json", Encoding.UTF8.GetBytes("{}"), CancellationToken.None));

        Assert.Equal(2, handler.Requests.Count);
        Assert.All(handler.Requests, r =>
        {
            Assert.Equal(HttpMethod.Put, r.Method);
            Assert.Equal("/bucket/root/DAR/generations/0000000001.json", r.Path);
            Assert.Equal("*", r.Header("If-None-Match"));
            Assert.Equal("{}", r.BodyText);
        });
    }

    [Fact]
    public async Task TryCreate_Retries409ConditionalRequestConflict_RecordingProxy()
    {
        var calls = 0;
        var handler = new RecordingHandler(_ => ++calls < 3
            ? RecordingHandler.Error(HttpStatusCode.Conflict, "ConditionalRequestConflict", "A conflicting operation occurred")
            : RecordingHandler.Ok());
        using var store = Store(handler);
        Assert.True(await store.TryCreateAsync("claim", new byte[] { 1 }, CancellationToken.None));
        Assert.Equal(3, handler.Requests.Count);
        Assert.All(handler.Requests, r => Assert.Equal("*", r.Header("If-None-Match")));
    }

    [Fact]
    public async Task Legacy_PutObject_SendsNoChunkEncodingAndNoChecksums_RecordingProxy()
    {
        var handler = new RecordingHandler(_ => RecordingHandler.Ok());
        using var legacy = Store(handler);
        await legacy.PutBytesAsync("a.json", Encoding.UTF8.GetBytes("[1]"), "application/json", CancellationToken.None);
        var put = Assert.Single(handler.Requests);
        Assert.Null(put.Header("Content-Encoding"));
        Assert.Null(put.Header("x-amz-decoded-content-length"));
        Assert.Null(put.Header("x-amz-trailer"));
        Assert.DoesNotContain(put.Headers.Keys, k => k.StartsWith("x-amz-checksum-", StringComparison.Ordinal) || k == "x-amz-sdk-checksum-algorithm");
        Assert.Equal("[1]", put.BodyText);
        Assert.Equal("application/json", put.Header("Content-Type"));

        // The SDK's default (Standard) sends a checksum: the difference the Legacy setting exists for.
        var standardHandler = new RecordingHandler(_ => RecordingHandler.Ok());
        using var standard = Store(standardHandler, S3Compatibility.Standard);
        await standard.PutBytesAsync("a.json", Encoding.UTF8.GetBytes("[1]"), "application/json", CancellationToken.None);
        var standardPut = Assert.Single(standardHandler.Requests);
        Assert.Contains(standardPut.Headers.Keys, k => k.StartsWith("x-amz-checksum-", StringComparison.Ordinal) || k == "x-amz-trailer" || k == "x-amz-sdk-checksum-algorithm");
    }

    [Fact]
    public async Task Legacy_MultipartUpload_PartsWithoutChunkEncoding_Sha256Metadata_AndAbortOnFailure_RecordingProxy()
    {
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(path, new byte[11 * 1024 * 1024]);
            var handler = new RecordingHandler(r =>
                r.Method == HttpMethod.Post && r.Query.Contains("uploads", StringComparison.Ordinal)
                    ? RecordingHandler.Ok($"<InitiateMultipartUploadResult xmlns=\"{Ns}\"><Bucket>bucket</Bucket><Key>root/big.zip</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>")
                : r.Method == HttpMethod.Put && r.Query.Contains("partNumber=3", StringComparison.Ordinal)
                    ? RecordingHandler.Error(HttpStatusCode.Forbidden, "AccessDenied", "Access Denied")
                : r.Method == HttpMethod.Delete
                    ? new HttpResponseMessage(HttpStatusCode.NoContent)
                    : RecordingHandler.Ok());
            using var store = Store(handler);

            var ex = await Assert.ThrowsAsync<StoreException>(() => store.PutFileAsync("big.zip", path, "ab12", "application/zip", CancellationToken.None));
            Assert.False(ex.Transient);

            var requests = handler.Requests.ToList();
            var initiate = Assert.Single(requests, r => r.Method == HttpMethod.Post);
            Assert.Equal("ab12", initiate.Header("x-amz-meta-sha256"));
            var parts = requests.Where(r => r.Method == HttpMethod.Put).ToList();
            // Parts run two at a time and the failure cancels the others, so not every part need have been sent.
            Assert.InRange(parts.Count, 1, 3);
            Assert.All(parts, p => Assert.Null(p.Header("Content-Encoding")));
            Assert.All(parts, p => Assert.Equal(
                p.Query.Contains("partNumber=3", StringComparison.Ordinal) ? 1024 * 1024 : 5 * 1024 * 1024, p.Body.Length));
            Assert.Contains(parts, p => p.Query.Contains("partNumber=3", StringComparison.Ordinal));
            var abort = Assert.Single(requests, r => r.Method == HttpMethod.Delete);
            Assert.Contains("uploadId=up-1", abort.Query, StringComparison.Ordinal);
            Assert.DoesNotContain(requests, r => r.Method == HttpMethod.Post && r.Query.Contains("uploadId", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Copy_SendsServerSideCopyObject_RecordingProxy()
    {
        var handler = new RecordingHandler(r => r.Method == HttpMethod.Head
            ? RecordingHandler.Ok(contentLength: 1234)
            : RecordingHandler.Ok($"<CopyObjectResult xmlns=\"{Ns}\"><ETag>\"e\"</ETag><LastModified>2024-01-01T00:00:00.000Z</LastModified></CopyObjectResult>"));
        using var store = Store(handler);

        await store.CopyAsync("DAR/V1/A/x_10.zip", "DAR/V1/A/x_11.zip", CancellationToken.None);

        var copy = Assert.Single(handler.Requests, r => r.Method == HttpMethod.Put);
        Assert.Equal("/bucket/root/DAR/V1/A/x_11.zip", copy.Path);
        Assert.Equal("/bucket/root/DAR/V1/A/x_10.zip", "/" + Uri.UnescapeDataString(copy.Header("x-amz-copy-source")!).TrimStart('/'));
        Assert.Empty(copy.Body);
    }

    [Fact]
    public async Task Copy_AboveTheThreshold_UsesMultipartCopyWithRanges_RecordingProxy()
    {
        var handler = new RecordingHandler(r =>
            r.Method == HttpMethod.Head ? RecordingHandler.Ok(contentLength: 12L * 1024 * 1024, headers: new Dictionary<string, string> { ["x-amz-meta-sha256"] = "ff00" })
            : r.Method == HttpMethod.Post && r.Query.Contains("uploads", StringComparison.Ordinal)
                ? RecordingHandler.Ok($"<InitiateMultipartUploadResult xmlns=\"{Ns}\"><Bucket>bucket</Bucket><Key>k</Key><UploadId>cp-1</UploadId></InitiateMultipartUploadResult>")
            : r.Method == HttpMethod.Put
                ? RecordingHandler.Ok($"<CopyPartResult xmlns=\"{Ns}\"><ETag>\"p\"</ETag><LastModified>2024-01-01T00:00:00.000Z</LastModified></CopyPartResult>")
                : RecordingHandler.Ok($"<CompleteMultipartUploadResult xmlns=\"{Ns}\"><Bucket>bucket</Bucket><Key>k</Key><ETag>\"c\"</ETag></CompleteMultipartUploadResult>"));
        using var store = Store(handler, options: new S3StoreOptions { MultipartCopyThreshold = 10L * 1024 * 1024, CopyPartSize = 5L * 1024 * 1024 });

        await store.CopyAsync("src.zip", "dst.zip", CancellationToken.None);

        var requests = handler.Requests.ToList();
        var initiate = Assert.Single(requests, r => r.Method == HttpMethod.Post && r.Query.Contains("uploads", StringComparison.Ordinal));
        Assert.Equal("ff00", initiate.Header("x-amz-meta-sha256"));
        var ranges = requests.Where(r => r.Method == HttpMethod.Put).Select(r => r.Header("x-amz-copy-source-range")).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["bytes=0-5242879", "bytes=10485760-12582911", "bytes=5242880-10485759"], ranges);
        var complete = Assert.Single(requests, r => r.Method == HttpMethod.Post && r.Query.Contains("uploadId=cp-1", StringComparison.Ordinal));
        Assert.Equal(3, XDocument.Parse(complete.BodyText).Descendants().Count(e => e.Name.LocalName == "Part"));
    }

    [Fact]
    public async Task Delete_BatchesOf1000_RecordingProxy()
    {
        var handler = new RecordingHandler(_ => RecordingHandler.Ok($"<DeleteResult xmlns=\"{Ns}\"></DeleteResult>"));
        using var store = Store(handler);
        var keys = Enumerable.Range(0, 2500).Select(i => $"DAR/old/{i}.zip").ToList();

        await store.DeleteAsync(keys, CancellationToken.None);

        var batches = handler.Requests.ToList();
        Assert.All(batches, b => Assert.Equal(HttpMethod.Post, b.Method));
        Assert.All(batches, b => Assert.Contains("delete", b.Query, StringComparison.Ordinal));
        var counts = batches.Select(b => XDocument.Parse(b.BodyText).Descendants().Count(e => e.Name.LocalName == "Object")).ToList();
        Assert.Equal([1000, 1000, 500], counts);
        var sent = batches.SelectMany(b => XDocument.Parse(b.BodyText).Descendants().Where(e => e.Name.LocalName == "Key").Select(e => e.Value)).ToHashSet();
        Assert.Equal(keys.Select(k => "root/" + k).ToHashSet(), sent);
    }

    [Fact]
    public async Task Delete_PerKeyErrors_FailUnlessNoSuchKey_AndTransientOnesAreRetried_RecordingProxy()
    {
        var deleteResult = (string errors) => RecordingHandler.Ok($"<DeleteResult xmlns=\"{Ns}\">{errors}</DeleteResult>");
        var denied = new RecordingHandler(_ => deleteResult(
            "<Error><Key>root/a</Key><Code>NoSuchKey</Code><Message>gone</Message></Error>" +
            "<Error><Key>root/b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"));
        using (var store = Store(denied))
        {
            var ex = await Assert.ThrowsAsync<StoreException>(() => store.DeleteAsync(["a", "b", "c"], CancellationToken.None));
            Assert.False(ex.Transient);
            Assert.Contains("root/b: AccessDenied", ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("root/a", ex.Message, StringComparison.Ordinal);
        }

        var calls = 0;
        var flaky = new RecordingHandler(_ => ++calls == 1
            ? deleteResult("<Error><Key>root/b</Key><Code>InternalError</Code><Message>try again</Message></Error>")
            : deleteResult(""));
        using (var store = Store(flaky))
        {
            await store.DeleteAsync(["a", "b", "c"], CancellationToken.None);
            var retry = flaky.Requests.Last();
            Assert.Equal(["root/b"], XDocument.Parse(retry.BodyText).Descendants().Where(e => e.Name.LocalName == "Key").Select(e => e.Value));
        }
    }

    [Fact]
    public async Task StoreDiagnostics_PassesWhenTheSecondCreateIsRefused_AndDeletesTheProbe_RecordingProxy()
    {
        var puts = 0;
        var handler = new RecordingHandler(r => r.Method == HttpMethod.Put
            ? (++puts == 1 ? RecordingHandler.Ok() : RecordingHandler.Error(HttpStatusCode.PreconditionFailed, "PreconditionFailed", "exists"))
            : RecordingHandler.Ok($"<DeleteResult xmlns=\"{Ns}\"></DeleteResult>"));
        using var store = Store(handler);

        var result = await StoreDiagnostics.CheckConditionalWritesAsync(store, CancellationToken.None);

        Assert.True(result.Passed, result.Detail);
        var requests = handler.Requests.ToList();
        Assert.Equal(3, requests.Count);
        Assert.StartsWith("/bucket/root/_probe/", requests[0].Path, StringComparison.Ordinal);
        Assert.Equal(requests[0].Path, requests[1].Path);
        Assert.Contains(requests[0].Path["/bucket/".Length..], requests[2].BodyText, StringComparison.Ordinal);
    }

    [Fact]
    public void CredentialsFromEnvironment_UsesTheStandardVariables()
    {
        var env = new Dictionary<string, string?> { ["AWS_ACCESS_KEY_ID"] = "AKID", ["AWS_SECRET_ACCESS_KEY"] = "SECRET" };
        var basic = S3ObjectStore.CredentialsFromEnvironment(n => env.GetValueOrDefault(n));
        Assert.Equal("AKID", basic!.GetCredentials().AccessKey);
        env["AWS_SESSION_TOKEN"] = "TOKEN";
        Assert.Equal("TOKEN", S3ObjectStore.CredentialsFromEnvironment(n => env.GetValueOrDefault(n))!.GetCredentials().Token);
        Assert.Null(S3ObjectStore.CredentialsFromEnvironment(_ => null));
    }
}
