using System.IO.Compression;
using System.Net;
using BulkExport.Publishing.Layout;
using BulkExport.Server.Configuration;
using BulkExport.Server.Tests.Support;
using BulkExport.Tests.Shared;

namespace BulkExport.Server.Tests.Endpoints;

/// <summary>The service over an S3 store (s3rver): redirects to presigned URLs, bundles streamed from S3, catalog refresh.</summary>
[Collection(S3rverCollection.Name)]
public sealed class S3DeliveryTests(S3rverFixture s3) : IAsyncLifetime
{
    private readonly string _prefix = "served-" + Guid.NewGuid().ToString("N")[..8] + "/";
    private PublishedLayout _layout = null!;
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _layout = await PublishedLayout.SampleAsync(TestServer.S3Store(s3, _prefix));
        _server = await TestServer.StartAsync([TestServer.S3Schedule("DAR", s3, _prefix)], new ServerSettings { PresignLifetime = TimeSpan.FromMinutes(10) }, TestServer.S3rverReader());
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task GetFile_redirects_to_a_presigned_url_that_serves_the_file()
    {
        const string name = "DAR_V1_Adresse_TotalDownload_JSON_Current_3.zip";
        using var response = await _server.Client.GetAsync("/FileDownloads/GetFile?Filename=" + name);
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        var location = response.Headers.Location!;
        Assert.StartsWith(s3.Endpoint, location.AbsoluteUri, StringComparison.Ordinal);
        Assert.Contains("X-Amz-Expires=600", location.Query, StringComparison.Ordinal);
        Assert.True(response.Headers.CacheControl?.NoStore);

        using var plain = new HttpClient();
        Assert.Equal(_layout.Bytes[name], await plain.GetByteArrayAsync(location));
    }

    [Fact]
    public async Task Latest_path_leads_through_two_redirects_to_the_bytes()
    {
        using var follow = new HttpClient { BaseAddress = _server.BaseAddress };
        var bytes = await follow.GetByteArrayAsync("/registers/DAR/latest/Adresse/Current/CSV");
        Assert.Equal(_layout.Bytes["DAR_V1_Adresse_TotalDownload_CSV_Current_3.zip"], bytes);
    }

    [Fact]
    public async Task Register_bundle_streams_the_newest_totals_from_s3()
    {
        using var response = await _server.Client.GetAsync("/FileDownloads/GetFile?Register=DAR&Version=1");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var archive = new ZipArchive(await response.Content.ReadAsStreamAsync(), ZipArchiveMode.Read);
        Assert.Equal(5, archive.Entries.Count);
        foreach (var entry in archive.Entries)
        {
            using var copy = new MemoryStream();
            await using (var stream = entry.Open())
            {
                await stream.CopyToAsync(copy);
            }

            Assert.Equal(_layout.Bytes[entry.FullName], copy.ToArray());
        }
    }

    [Fact]
    public async Task A_new_catalog_is_served_after_a_refresh_and_an_unchanged_one_is_kept()
    {
        await _server.RefreshAsync();
        using (var before = await _server.Client.GetAsync("/registers/DAR/latest/Adresse/Current/CSV"))
        {
            Assert.EndsWith("_3.zip", before.Headers.Location?.OriginalString, StringComparison.Ordinal);
        }

        await _layout.AddAsync("Adresse", FileNaming.TotalDownload, "Current", "CSV", 4);
        await _layout.PublishCatalogAsync();
        await _server.RefreshAsync();
        using var after = await _server.Client.GetAsync("/registers/DAR/latest/Adresse/Current/CSV");
        Assert.EndsWith("DAR_V1_Adresse_TotalDownload_CSV_Current_4.zip", after.Headers.Location?.OriginalString, StringComparison.Ordinal);
        Assert.Contains(_server.Logs.Lines, l => l.Contains("catalog of DAR loaded", StringComparison.Ordinal));
    }
}
