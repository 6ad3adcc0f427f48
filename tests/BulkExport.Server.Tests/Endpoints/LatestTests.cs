using System.Net;
using BulkExport.Server.Tests.Support;

namespace BulkExport.Server.Tests.Endpoints;

public sealed class LatestTests(SampleServerFixture sample) : IClassFixture<SampleServerFixture>
{
    [Fact]
    public async Task Latest_path_redirects_to_the_newest_total_file()
    {
        using var response = await sample.Client.GetAsync("/registers/DAR/latest/Adresse/Current/JSON?Version=1");
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal("/FileDownloads/GetFile?Filename=DAR_V1_Adresse_TotalDownload_JSON_Current_3.zip", response.Headers.Location?.OriginalString);
        Assert.Equal(TimeSpan.FromSeconds(60), response.Headers.CacheControl?.MaxAge);

        using var file = await sample.Client.GetAsync(response.Headers.Location);
        Assert.Equal(sample.Layout.Bytes["DAR_V1_Adresse_TotalDownload_JSON_Current_3.zip"], await file.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Latest_path_without_version_takes_the_newest_version()
    {
        using var response = await sample.Client.GetAsync("/registers/DAR/latest/Adresse/current/json");
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.EndsWith("DAR_V2_Adresse_TotalDownload_JSON_Current_3.zip", response.Headers.Location?.OriginalString, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Latest_path_of_a_split_total_redirects_to_the_zip_of_its_parts()
    {
        using var response = await sample.Client.GetAsync("/registers/DAR/latest/Husnummer/Current/JSON");
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Contains("LatestTotalForEntity=Husnummer", response.Headers.Location?.OriginalString, StringComparison.Ordinal);
        using var bundle = await sample.Client.GetAsync(response.Headers.Location);
        Assert.Equal(HttpStatusCode.OK, bundle.StatusCode);
    }

    [Theory]
    [InlineData("/registers/DAR/latest/Adresse/Sometimes/JSON", HttpStatusCode.BadRequest)]
    [InlineData("/registers/DAR/latest/Adr%2Fesse/Current/JSON", HttpStatusCode.BadRequest)]
    [InlineData("/registers/DAR/latest/Adresse/Current/JSON?Format=CSV", HttpStatusCode.BadRequest)]
    [InlineData("/registers/DAR/latest/Vejnavn/Current/JSON", HttpStatusCode.NotFound)]
    [InlineData("/registers/BBR/latest/Adresse/Current/JSON", HttpStatusCode.NotFound)]
    public async Task Bad_or_unknown_latest_paths_are_answered_without_a_redirect(string path, HttpStatusCode expected)
    {
        using var response = await sample.Client.GetAsync(path);
        Assert.Equal(expected, response.StatusCode);
    }
}
