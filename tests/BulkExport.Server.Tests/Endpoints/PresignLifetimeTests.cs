using System.Net;
using System.Web;
using BulkExport.Publishing.Layout;
using BulkExport.Server.Configuration;
using BulkExport.Server.Tests.Support;
using BulkExport.Tests.Shared;

namespace BulkExport.Server.Tests.Endpoints;

/// <summary>
/// A presigned URL lives long enough for the slowest promised consumer to fetch its file
/// (size / presignMinimumBandwidth), never less than presignLifetime, never more than SigV4's 7 days.
/// </summary>
[Collection(S3rverCollection.Name)]
public sealed class PresignLifetimeTests(S3rverFixture s3)
{
    [Fact]
    public async Task A_file_too_large_for_the_floor_gets_a_url_that_lives_as_long_as_the_slowest_consumer_needs()
    {
        var prefix = "presign-" + Guid.NewGuid().ToString("N")[..8] + "/";
        var layout = new PublishedLayout(TestServer.S3Store(s3, prefix), "DAR");
        var small = await layout.AddAsync("Adresse", FileNaming.TotalDownload, "Current", "JSON", 1, content: new byte[100]);
        var large = await layout.AddAsync("Adresse", FileNaming.TotalDownload, "Current", "JSON", 2, content: new byte[20_000]);
        await layout.PublishCatalogAsync();
        var settings = ServerSettings.Parse("{presignLifetime: 10m, presignMinimumBandwidth: 10B/s}", "server.yaml");
        await using var server = await TestServer.StartAsync([TestServer.S3Schedule("DAR", s3, prefix)], settings, TestServer.S3rverReader());

        Assert.Equal("600", await ExpiresOfAsync(server, small));
        Assert.Equal("2000", await ExpiresOfAsync(server, large));
        Assert.DoesNotContain(server.Logs.Lines, l => l.Contains("presignMinimumBandwidth", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_file_the_slowest_consumer_cannot_fetch_in_seven_days_gets_seven_days_and_a_warning_naming_the_setting()
    {
        var prefix = "presign-" + Guid.NewGuid().ToString("N")[..8] + "/";
        var layout = new PublishedLayout(TestServer.S3Store(s3, prefix), "DAR");
        var huge = await layout.AddAsync("Adresse", FileNaming.TotalDownload, "Current", "JSON", 1, content: new byte[700_000]);
        await layout.PublishCatalogAsync();
        var settings = ServerSettings.Parse("{presignMinimumBandwidth: 1B/s}", "server.yaml");
        await using var server = await TestServer.StartAsync([TestServer.S3Schedule("DAR", s3, prefix)], settings, TestServer.S3rverReader());

        Assert.Equal("604800", await ExpiresOfAsync(server, huge));
        Assert.Contains(server.Logs.Lines, l => l.Contains("presignMinimumBandwidth", StringComparison.Ordinal) && l.Contains(huge.Filename, StringComparison.Ordinal));
    }

    [Fact]
    public void The_lifetime_is_the_floor_for_small_files_size_over_bandwidth_for_large_and_capped_at_seven_days()
    {
        var settings = new ServerSettings { PresignLifetime = TimeSpan.FromHours(12), PresignMinimumBandwidth = 1 << 20 };
        Assert.Equal(TimeSpan.FromHours(12), settings.PresignLifetimeFor(0));
        Assert.Equal(TimeSpan.FromHours(12), settings.PresignLifetimeFor(40L << 30));
        Assert.Equal(TimeSpan.FromSeconds(102_400), settings.PresignLifetimeFor(100L << 30));
        Assert.Equal(TimeSpan.FromSeconds(102_401), settings.PresignLifetimeFor((100L << 30) + 1));
        Assert.Equal(ServerSettings.MaxPresignLifetime, settings.PresignLifetimeFor(1L << 40));
    }

    private static async Task<string?> ExpiresOfAsync(TestServer server, CatalogRow row)
    {
        using var response = await server.Client.GetAsync("/FileDownloads/GetFile?Filename=" + row.Filename);
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        return HttpUtility.ParseQueryString(response.Headers.Location!.Query)["X-Amz-Expires"];
    }
}
