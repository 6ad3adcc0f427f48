using System.Net;
using System.Text.Json;
using System.Xml.Linq;
using BulkExport.Server.Tests.Support;

namespace BulkExport.Server.Tests.Discovery;

public sealed class DataJsonTests(SampleServerFixture sample) : IClassFixture<SampleServerFixture>
{
    [Fact]
    public async Task Data_json_has_the_Project_Open_Data_required_fields()
    {
        var root = JsonDocument.Parse(await sample.Client.GetStringAsync("/data.json")).RootElement;
        Assert.Equal("dcat:Catalog", root.GetProperty("@type").GetString());
        Assert.Equal("https://project-open-data.cio.gov/v1.1/schema", root.GetProperty("conformsTo").GetString());
        var datasets = root.GetProperty("dataset").EnumerateArray().ToList();
        Assert.Equal(["DAR Adresse", "DAR Husnummer"], datasets.Select(d => d.GetProperty("title").GetString()));
        foreach (var dataset in datasets)
        {
            // Required for every dataset by POD v1.1 (bureauCode/programCode apply to US federal agencies only).
            foreach (var field in new[] { "title", "description", "modified", "identifier", "accessLevel" })
            {
                Assert.False(string.IsNullOrWhiteSpace(dataset.GetProperty(field).GetString()), field);
            }

            Assert.NotEmpty(dataset.GetProperty("keyword").EnumerateArray());
            Assert.Equal("org:Organization", dataset.GetProperty("publisher").GetProperty("@type").GetString());
            Assert.False(string.IsNullOrWhiteSpace(dataset.GetProperty("publisher").GetProperty("name").GetString()));
            Assert.False(string.IsNullOrWhiteSpace(dataset.GetProperty("contactPoint").GetProperty("fn").GetString()));
            Assert.StartsWith("mailto:", dataset.GetProperty("contactPoint").GetProperty("hasEmail").GetString(), StringComparison.Ordinal);
            Assert.Contains(dataset.GetProperty("accessLevel").GetString(), new[] { "public", "restricted public", "non-public" });
            Assert.True(DateTimeOffset.TryParse(dataset.GetProperty("modified").GetString(), out _));
        }

        var adresse = datasets[0].GetProperty("distribution").EnumerateArray().Where(d => d.TryGetProperty("downloadURL", out _)).ToList();
        // One per newest total: Bitemporal JSON (V1), Current CSV (V1), Current JSON (V2, the newest version).
        Assert.Equal(3, adresse.Count);
        foreach (var distribution in adresse)
        {
            Assert.Equal("application/zip", distribution.GetProperty("mediaType").GetString());
            Assert.False(string.IsNullOrWhiteSpace(distribution.GetProperty("format").GetString()));
            Assert.Equal(64, distribution.GetProperty("checksum").GetProperty("checksumValue").GetString()!.Length);
            var url = new Uri(distribution.GetProperty("downloadURL").GetString()!);
            using var file = await sample.Client.GetAsync(url);
            Assert.Equal(HttpStatusCode.OK, file.StatusCode);
        }
    }
}

/// <summary>The sample has generations 1, 2, 3; with two generations per page: archive 0 (gen 1), subscription page 1 (gens 2, 3).</summary>
public sealed class AtomFeedTests(SampleServerFixture sample) : IClassFixture<SampleServerFixture>
{
    private static readonly XNamespace Atom = "http://www.w3.org/2005/Atom";
    private static readonly XNamespace History = "http://purl.org/syndication/history/1.0";

    private async Task<XElement> FeedAsync(string url)
    {
        using var response = await sample.Client.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/atom+xml", response.Content.Headers.ContentType?.MediaType);
        var feed = XDocument.Parse(await response.Content.ReadAsStringAsync()).Root!;
        Assert.Equal(Atom + "feed", feed.Name);
        // RFC 4287: a feed has id, title, updated and an author (here at feed level).
        foreach (var name in new[] { "id", "title", "updated" })
        {
            Assert.False(string.IsNullOrWhiteSpace(feed.Element(Atom + name)?.Value), name);
        }

        Assert.NotNull(feed.Element(Atom + "author")?.Element(Atom + "name"));
        foreach (var entry in feed.Elements(Atom + "entry"))
        {
            Assert.NotNull(entry.Element(Atom + "id"));
            Assert.NotNull(entry.Element(Atom + "title"));
            Assert.True(DateTimeOffset.TryParse(entry.Element(Atom + "updated")?.Value, out _));
        }

        return feed;
    }

    private static string? Link(XElement feed, string rel) =>
        feed.Elements(Atom + "link").FirstOrDefault(l => (string?)l.Attribute("rel") == rel)?.Attribute("href")?.Value;

    private static List<long> Generations(XElement feed) =>
        [.. feed.Elements(Atom + "entry").Select(e => long.Parse(e.Element(Atom + "id")!.Value.Split('/')[^1], System.Globalization.CultureInfo.InvariantCulture))];

    [Fact]
    public async Task Subscription_document_holds_the_newest_generations_and_links_back_to_an_archive()
    {
        var feed = await FeedAsync("/registers/DAR/feed.atom");
        Assert.Null(feed.Element(History + "archive"));
        Assert.Equal([3L, 2L], Generations(feed));
        Assert.NotNull(Link(feed, "current"));
        Assert.EndsWith("/registers/DAR/feed/0.atom", Link(feed, "prev-archive"), StringComparison.Ordinal);
        Assert.Null(Link(feed, "next-archive"));
    }

    [Fact]
    public async Task Walking_prev_archive_links_reaches_every_generation_exactly_once()
    {
        var seen = new List<long>();
        var url = "/registers/DAR/feed.atom";
        var pages = 0;
        while (url is not null && pages++ < 10)
        {
            var feed = await FeedAsync(url);
            seen.AddRange(Generations(feed));
            if (pages > 1)
            {
                Assert.NotNull(feed.Element(History + "archive"));
                Assert.EndsWith("/registers/DAR/feed.atom", Link(feed, "current"), StringComparison.Ordinal);
            }

            url = Link(feed, "prev-archive")!;
        }

        Assert.Equal([1L, 2L, 3L], seen.Order());
        Assert.Equal(seen.Count, seen.Distinct().Count());
    }

    [Fact]
    public async Task Entries_link_every_live_file_of_their_generation_and_are_dated_by_it()
    {
        var feed = await FeedAsync("/registers/DAR/feed/0.atom");
        var entry = Assert.Single(feed.Elements(Atom + "entry"));
        var expected = sample.Layout.Rows.Where(r => r.GenerationNumber == 1).ToList();
        var links = entry.Elements(Atom + "link").Where(l => (string?)l.Attribute("rel") == "enclosure").ToList();
        Assert.Equal(expected.Select(r => r.Filename).Order(), links.Select(l => (string)l.Attribute("title")!).Order());
        Assert.Equal(expected[0].GenerationTime, DateTimeOffset.Parse(entry.Element(Atom + "updated")!.Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("total", entry.Element(Atom + "category")?.Attribute("term")?.Value);
        using var file = await sample.Client.GetAsync(new Uri((string)links[0].Attribute("href")!));
        Assert.Equal(HttpStatusCode.OK, file.StatusCode);
    }

    [Theory]
    [InlineData("/registers/DAR/feed/1.atom")]
    [InlineData("/registers/DAR/feed/7.atom")]
    [InlineData("/registers/BBR/feed.atom")]
    public async Task The_current_page_as_an_archive_unknown_pages_and_registers_are_404(string url)
    {
        using var response = await sample.Client.GetAsync(url);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}

public sealed class HomePageAndOpenApiTests(SampleServerFixture sample) : IClassFixture<SampleServerFixture>
{
    [Fact]
    public async Task Home_page_lists_registers_entities_and_newest_totals_with_size_date_and_checksum()
    {
        using var response = await sample.Client.GetAsync("/");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync();
        var newest = sample.Layout.Rows.Single(r => r.Filename == "DAR_V1_Adresse_TotalDownload_CSV_Current_3.zip");
        Assert.Contains("<h2>DAR</h2>", html, StringComparison.Ordinal);
        Assert.Contains("<h3>Husnummer</h3>", html, StringComparison.Ordinal);
        Assert.Contains(newest.Filename, html, StringComparison.Ordinal);
        Assert.Contains(newest.Sha256, html, StringComparison.Ordinal);
        Assert.Contains("2026-03-10 03:00 UTC", html, StringComparison.Ordinal);
        Assert.Contains("How to mirror", html, StringComparison.Ordinal);
        // Superseded totals are not on the page.
        Assert.DoesNotContain("DAR_V1_Adresse_TotalDownload_JSON_Current_1.zip", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenApi_document_describes_the_download_endpoints()
    {
        var root = JsonDocument.Parse(await sample.Client.GetStringAsync("/openapi/v1.json")).RootElement;
        Assert.StartsWith("3.", root.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        var paths = root.GetProperty("paths");
        foreach (var path in new[] { "/FileDownloads/GetAvailableFileDownloads", "/FileDownloads/GetFile", "/registers/{register}/latest/{entity}/{typeOfData}/{format}", "/data.json" })
        {
            Assert.True(paths.TryGetProperty(path, out _), path);
        }

        var operationIds = paths.EnumerateObject().SelectMany(p => p.Value.EnumerateObject()).Select(o => o.Value.TryGetProperty("operationId", out var id) ? id.GetString() : null).OfType<string>().ToList();
        Assert.Equal(operationIds.Count, operationIds.Distinct().Count());
        var parameters = paths.GetProperty("/FileDownloads/GetFile").GetProperty("get").GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString());
        Assert.Equal(["Filename", "Register", "LatestTotalForEntity", "Type", "Format", "Version"], parameters);
    }

    [Fact]
    public async Task Probes_answer_once_the_catalogs_are_read()
    {
        Assert.Equal("ok", await sample.Client.GetStringAsync("/healthz"));
        Assert.Equal("ready", await sample.Client.GetStringAsync("/readyz"));
    }
}
