using System.Text;
using BulkExport.Api;
using BulkExport.Publishing.Stores;
using BulkExport.Publishing.Stores.S3;
using BulkExport.Tests.Shared;

namespace BulkExport.Publishing.Tests.Stores;

/// <summary>
/// What the download service relies on from every store, run against each implementation: whole,
/// ranged and conditional reads, absent objects, and presigned URLs where the store has them.
/// </summary>
public abstract class ObjectReaderContract
{
    private static readonly byte[] Content = Encoding.ASCII.GetBytes("0123456789abcdefghijklmnopqrstuvwxyz");

    private protected abstract IObjectStore Writer { get; }

    /// <summary>The read-only view the server gets of the same store.</summary>
    private protected abstract IObjectReader Reader { get; }

    private protected abstract bool HonoursIfNoneMatch { get; }

    private static string NewKey() => $"REG/V1/E/{Guid.NewGuid():N}.zip";

    [Fact]
    public async Task Read_without_conditions_returns_the_whole_object_with_an_etag()
    {
        var key = NewKey();
        await Writer.PutBytesAsync(key, Content, "application/zip", default);
        await using var read = await Reader.ReadAsync(key, ReadConditions.None, default);
        Assert.Equal(ReadOutcome.Found, read.Outcome);
        Assert.Equal(Content.Length, read.Size);
        Assert.Equal(Content.Length, read.Length);
        Assert.StartsWith("\"", read.ETag, StringComparison.Ordinal);
        Assert.Equal(Content, await read.ReadAllBytesAsync(default));
    }

    [Fact]
    public async Task Read_of_a_missing_key_is_not_found()
    {
        await using var read = await Reader.ReadAsync(NewKey(), ReadConditions.None, default);
        Assert.Equal(ReadOutcome.NotFound, read.Outcome);
        Assert.Null(read.Content);
    }

    [Fact]
    public async Task Read_with_a_closed_range_returns_only_those_bytes()
    {
        var key = NewKey();
        await Writer.PutBytesAsync(key, Content, "application/zip", default);
        await using var read = await Reader.ReadAsync(key, new ReadConditions(Range: new ByteRange(10, 19)), default);
        Assert.Equal(ReadOutcome.Found, read.Outcome);
        Assert.Equal(10, read.Offset);
        Assert.Equal(10, read.Length);
        Assert.Equal(Content.Length, read.Size);
        Assert.Equal("abcdefghij", Encoding.ASCII.GetString(await read.ReadAllBytesAsync(default)));
    }

    [Fact]
    public async Task Read_with_an_open_range_returns_the_rest_of_the_object()
    {
        var key = NewKey();
        await Writer.PutBytesAsync(key, Content, "application/zip", default);
        await using var read = await Reader.ReadAsync(key, new ReadConditions(Range: new ByteRange(30, null)), default);
        Assert.Equal(30, read.Offset);
        Assert.Equal("uvwxyz", Encoding.ASCII.GetString(await read.ReadAllBytesAsync(default)));
    }

    [Fact]
    public async Task Read_with_a_range_beyond_the_end_is_not_satisfiable()
    {
        var key = NewKey();
        await Writer.PutBytesAsync(key, Content, "application/zip", default);
        await using var read = await Reader.ReadAsync(key, new ReadConditions(Range: new ByteRange(1000, null)), default);
        Assert.Equal(ReadOutcome.RangeNotSatisfiable, read.Outcome);
    }

    [Fact]
    public async Task Read_with_the_current_etag_is_not_modified_or_returns_that_same_etag()
    {
        var key = NewKey();
        await Writer.PutBytesAsync(key, Content, "application/zip", default);
        string etag;
        await using (var first = await Reader.ReadAsync(key, ReadConditions.None, default))
        {
            etag = first.ETag;
        }

        await using var second = await Reader.ReadAsync(key, new ReadConditions(IfNoneMatch: etag), default);
        if (HonoursIfNoneMatch)
        {
            Assert.Equal(ReadOutcome.NotModified, second.Outcome);
            Assert.Null(second.Content);
        }
        else
        {
            // A store that ignores the condition must still report the same ETag, which callers compare.
            Assert.Equal(etag, second.ETag);
        }
    }

    [Fact]
    public async Task Read_with_a_stale_etag_returns_the_replaced_content()
    {
        var key = NewKey();
        await Writer.PutBytesAsync(key, Content, "application/zip", default);
        string etag;
        await using (var first = await Reader.ReadAsync(key, ReadConditions.None, default))
        {
            etag = first.ETag;
        }

        // A different length changes the ETag of every store, whatever its clock resolution.
        await Writer.PutBytesAsync(key, Encoding.ASCII.GetBytes("replaced"), "application/zip", default);
        await using var second = await Reader.ReadAsync(key, new ReadConditions(IfNoneMatch: etag), default);
        Assert.Equal(ReadOutcome.Found, second.Outcome);
        Assert.NotEqual(etag, second.ETag);
        Assert.Equal("replaced", Encoding.ASCII.GetString(await second.ReadAllBytesAsync(default)));
    }

    [Fact]
    public async Task Presigned_url_when_offered_serves_the_object_to_a_plain_http_client()
    {
        var key = NewKey();
        await Writer.PutBytesAsync(key, Content, "application/zip", default);
        var url = Reader.PresignGet(key, TimeSpan.FromMinutes(5), "download.zip");
        if (!OffersPresignedUrls)
        {
            Assert.Null(url);
            return;
        }

        Assert.NotNull(url);
        using var http = new HttpClient();
        using var response = await http.GetAsync(url);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Content, await response.Content.ReadAsByteArrayAsync());
    }

    private protected abstract bool OffersPresignedUrls { get; }
}

public sealed class LocalObjectReaderContractTests : ObjectReaderContract, IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("reader-contract-").FullName;

    public LocalObjectReaderContractTests()
    {
        Writer = new LocalObjectStore(_root);
        Reader = LocalObjectStore.ForReading(_root);
    }

    private protected override IObjectStore Writer { get; }

    private protected override IObjectReader Reader { get; }

    private protected override bool HonoursIfNoneMatch => true;

    private protected override bool OffersPresignedUrls => false;

    [Fact]
    public void ForReading_does_not_create_a_missing_directory()
    {
        var missing = Path.Combine(_root, "not-there");
        LocalObjectStore.ForReading(missing);
        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    public void Reader_interface_has_no_write_operations()
    {
        // The server's path is typed as IObjectReader; nothing on it can write.
        Assert.DoesNotContain(typeof(IObjectReader).GetMethods(), m => m.Name.StartsWith("Put", StringComparison.Ordinal) || m.Name is "TryCreateAsync" or "CopyAsync" or "DeleteAsync");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}

[Collection(S3rverCollection.Name)]
public sealed class S3ObjectReaderContractTests(S3rverFixture s3) : ObjectReaderContract
{
    private readonly string _prefix = "contract-" + Guid.NewGuid().ToString("N")[..8] + "/";

    private protected override IObjectStore Writer => Store();

    private protected override IObjectReader Reader => Store();

    private S3ObjectStore Store() => new(
        new S3StorageSpec { Bucket = S3rverFixture.Bucket, Prefix = _prefix, Endpoint = s3.Endpoint, ForcePathStyle = true, Compatibility = S3Compatibility.Legacy },
        S3rverFixture.Credentials);

    /// <summary>s3rver 3.7 answers 304 for a matching If-None-Match on GET; stores that do not are covered by the ETag compare.</summary>
    private protected override bool HonoursIfNoneMatch => true;

    private protected override bool OffersPresignedUrls => true;
}
