using System.Net;
using System.Net.Http.Headers;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Stores;
using BulkExport.Server.Endpoints;
using BulkExport.Server.Tests.Support;

namespace BulkExport.Server.Tests.Endpoints;

/// <summary>
/// The local store's byte pump (<see cref="PipeSendFileFeature"/>) on files of several of its blocks:
/// every byte in place at block boundaries, the range forms, If-Range, and damage in the store.
/// </summary>
public sealed class LocalFileDeliveryTests : IAsyncLifetime
{
    private const string Path = "/FileDownloads/GetFile?Filename=";
    private const int Block = PipeSendFileFeature.BlockSize;
    private readonly TempDirectory _root = new();
    private PublishedLayout _layout = null!;
    private TestServer _server = null!;
    private CatalogRow _big = null!;
    private CatalogRow _truncated = null!;
    private CatalogRow _deleted = null!;

    public async Task InitializeAsync()
    {
        var store = new LocalObjectStore(_root.Path);
        _layout = new PublishedLayout(store, "DAR");
        // Not a multiple of the block: the last block is short; random bytes so no two blocks are alike.
        var bytes = new byte[(3 * Block) + 12345];
        new Random(12).NextBytes(bytes);
        _big = await _layout.AddAsync("Adresse", FileNaming.TotalDownload, "Current", "JSON", 1, content: bytes);
        _truncated = await _layout.AddAsync("Adresse", FileNaming.TotalDownload, "Current", "JSON", 2, content: bytes);
        _deleted = await _layout.AddAsync("Adresse", FileNaming.TotalDownload, "Current", "JSON", 3, content: bytes);
        await _layout.PublishCatalogAsync();
        _server = await TestServer.StartAsync([TestServer.LocalSchedule("DAR", _root.Path)]);

        // Damage behind the catalog's back, after the server has read it.
        var truncatedPath = ((LocalObjectStore)_layout.Store).FilePath(_truncated.Key);
        await using (var file = new FileStream(truncatedPath, FileMode.Open))
        {
            file.SetLength(Block + 1);
        }

        File.Delete(((LocalObjectStore)_layout.Store).FilePath(_deleted.Key));
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _root.Dispose();
    }

    [Fact]
    public async Task A_file_of_several_blocks_arrives_byte_for_byte()
    {
        using var response = await _server.Client.GetAsync(Path + _big.Filename);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(_big.SizeBytes, response.Content.Headers.ContentLength);
        Assert.Equal(_layout.Bytes[_big.Filename], await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData(Block - 10L, (2L * Block) + 9)]
    [InlineData(0L, 0L)]
    [InlineData((3L * Block) + 12344, -1L)]
    [InlineData((long)Block, -1L)]
    public async Task A_range_across_block_boundaries_is_exactly_those_bytes(long from, long end)
    {
        long? to = end < 0 ? null : end;
        using var request = new HttpRequestMessage(HttpMethod.Get, Path + _big.Filename);
        request.Headers.Range = new RangeHeaderValue(from, to);
        using var response = await _server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        var last = to ?? (_big.SizeBytes - 1);
        Assert.Equal(_layout.Bytes[_big.Filename].AsSpan((int)from, (int)(last - from + 1)).ToArray(), await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(from, response.Content.Headers.ContentRange?.From);
        Assert.Equal(last, response.Content.Headers.ContentRange?.To);
    }

    [Fact]
    public async Task A_suffix_range_is_the_last_bytes()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Path + _big.Filename);
        request.Headers.Range = new RangeHeaderValue(null, 1000);
        using var response = await _server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(_layout.Bytes[_big.Filename][^1000..], await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task If_Range_with_the_sha256_resumes_and_with_another_etag_sends_the_whole_file()
    {
        using var resume = new HttpRequestMessage(HttpMethod.Get, Path + _big.Filename);
        resume.Headers.Range = new RangeHeaderValue(Block, null);
        resume.Headers.IfRange = new RangeConditionHeaderValue(new EntityTagHeaderValue($"\"{_big.Sha256}\""));
        using var resumed = await _server.Client.SendAsync(resume);
        Assert.Equal(HttpStatusCode.PartialContent, resumed.StatusCode);
        Assert.Equal(_big.SizeBytes - Block, (await resumed.Content.ReadAsByteArrayAsync()).Length);

        using var stale = new HttpRequestMessage(HttpMethod.Get, Path + _big.Filename);
        stale.Headers.Range = new RangeHeaderValue(Block, null);
        stale.Headers.IfRange = new RangeConditionHeaderValue(new EntityTagHeaderValue("\"0000\""));
        using var whole = await _server.Client.SendAsync(stale);
        Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
        Assert.Equal(_layout.Bytes[_big.Filename], await whole.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_stored_file_whose_size_differs_from_the_catalog_is_refused_and_logged_never_sent_under_its_etag()
    {
        using var response = await _server.Client.GetAsync(Path + _truncated.Filename);
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Null(response.Headers.ETag);
        Assert.Contains(_truncated.Filename, await response.Content.ReadAsStringAsync());
        Assert.Contains(_server.Logs.Lines, l => l.Contains(_truncated.Filename, StringComparison.Ordinal) && l.Contains($"{Block + 1} bytes", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_listed_file_deleted_from_the_store_is_404()
    {
        using var response = await _server.Client.GetAsync(Path + _deleted.Filename);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
