using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using BulkExport.Publishing.Layout;
using BulkExport.Server.Tests.Support;

namespace BulkExport.Server.Tests.Endpoints;

public sealed partial class GetAvailableFileDownloadsTests(SampleServerFixture sample) : IClassFixture<SampleServerFixture>
{
    private const string Path = "/FileDownloads/GetAvailableFileDownloads";

    private async Task<JsonElement[]> ListAsync(string query)
    {
        using var response = await sample.Client.GetAsync(Path + query);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.EnumerateArray().ToArray();
    }

    [Fact]
    public async Task Without_parameters_lists_every_catalog_row_of_every_register()
    {
        var rows = await ListAsync("");
        Assert.Equal(sample.Layout.Rows.Select(r => r.Filename).Order(), rows.Select(r => r.GetProperty("Filename").GetString()).Order());
    }

    [Fact]
    public async Task Rows_carry_every_catalog_row_property_under_the_Datafordeleren_names()
    {
        var row = (await ListAsync("?Register=DAR")).First(r => r.GetProperty("TypeOfDownload").GetString() == FileNaming.DeltaDownload);
        // Every member the published catalog row has, so fields added to the catalog later flow
        // through unchanged (a nullable field the exporter leaves out, such as Rebase, is left out here too).
        var stored = JsonDocument.Parse((await sample.Layout.Store.GetBytesAsync(FileNaming.CatalogKey("DAR"), CancellationToken.None))!)
            .RootElement.GetProperty("Files").EnumerateArray()
            .Single(r => r.GetProperty("Filename").GetString() == row.GetProperty("Filename").GetString());
        Assert.True(stored.TryGetProperty(nameof(CatalogRow.Fingerprint), out _), "the sample's catalog rows carry a fingerprint");
        foreach (var member in stored.EnumerateObject())
        {
            Assert.True(row.TryGetProperty(member.Name, out var served), $"missing {member.Name}");
            Assert.Equal(member.Value.ValueKind, served.ValueKind);
        }

        foreach (var name in new[] { "Filename", "Register", "EntityName", "Frequency", "TypeOfDownload", "TypeOfData", "Version", "GenerationNumber", "PointInTime", "GenerationTime", "ExpirationDate", "ContainedFileFormat", "OutputFileFormat" })
        {
            Assert.True(row.TryGetProperty(name, out _), $"missing Datafordeleren field {name}");
        }
    }

    [Fact]
    public async Task Times_are_ISO_8601_in_UTC()
    {
        var row = (await ListAsync("?Register=DAR"))[0];
        foreach (var name in new[] { "PointInTime", "GenerationTime", "ExpirationDate" })
        {
            Assert.Matches(IsoUtc(), row.GetProperty(name).GetString()!);
        }
    }

    [Fact]
    public async Task Register_Version_and_Entity_filter_the_rows()
    {
        var rows = await ListAsync("?Register=DAR&Version=1&Entity=Husnummer");
        Assert.Equal(3, rows.Length);
        Assert.All(rows, r => Assert.Equal("Husnummer", r.GetProperty("EntityName").GetString()));
        Assert.Single(await ListAsync("?Register=DAR&Version=2"));
    }

    [Fact]
    public async Task Parameter_names_are_case_insensitive()
    {
        Assert.Equal(3, (await ListAsync("?register=DAR&entity=Husnummer")).Length);
    }

    [Theory]
    [InlineData("?Version=1", "Version")]
    [InlineData("?Entity=Adresse", "Entity")]
    [InlineData("?Register=DAR&Format=JSON", "unknown parameter 'Format'")]
    [InlineData("?Register=DAR&Register=DAR", "more than once")]
    [InlineData("?Register=DAR&Version=one", "Version")]
    [InlineData("?Register=DAR&Version=0", "Version")]
    [InlineData("?Register=D-R", "Register")]
    [InlineData("?Register=DAR&Entity=Adr%2Fesse", "Entity")]
    [InlineData("?Register=", "empty")]
    public async Task Bad_parameters_are_400_naming_the_parameter(string query, string expected)
        => await sample.Client.BadRequestAsync(Path + query, expected);

    [Fact]
    public async Task Unknown_register_is_404()
    {
        using var response = await sample.Client.GetAsync(Path + "?Register=BBR");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Repeated_listing_with_its_etag_is_304_and_listings_have_a_short_max_age()
    {
        using var first = await sample.Client.GetAsync(Path + "?Register=DAR");
        Assert.NotNull(first.Headers.ETag);
        Assert.Equal(TimeSpan.FromSeconds(60), first.Headers.CacheControl?.MaxAge);
        using var request = new HttpRequestMessage(HttpMethod.Get, Path + "?Register=DAR");
        request.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        using var second = await sample.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);

        using var other = new HttpRequestMessage(HttpMethod.Get, Path + "?Register=DAR&Entity=Adresse");
        other.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        using var third = await sample.Client.SendAsync(other);
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")]
    private static partial Regex IsoUtc();
}
