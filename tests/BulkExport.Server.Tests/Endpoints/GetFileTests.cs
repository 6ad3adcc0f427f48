using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using BulkExport.Publishing.Layout;
using BulkExport.Server.Tests.Support;

namespace BulkExport.Server.Tests.Endpoints;

public sealed class GetFileTests(SampleServerFixture sample) : IClassFixture<SampleServerFixture>
{
    private const string Path = "/FileDownloads/GetFile";

    private CatalogRow Row(string entity, string type, string format, long generation, int version = 1, string download = FileNaming.TotalDownload) =>
        sample.Layout.Rows.Single(r => r.EntityName == entity && r.TypeOfData == type && r.ContainedFileFormat == format && r.GenerationNumber == generation && r.Version == version && r.TypeOfDownload == download && r.PartCount == 1);

    [Fact]
    public async Task Filename_returns_the_bytes_with_sha256_etag_last_modified_and_immutable_caching()
    {
        var row = Row("Adresse", "Current", "JSON", 3);
        using var response = await sample.Client.GetAsync(Path + "?Filename=" + row.Filename);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(sample.Layout.Bytes[row.Filename], await response.Content.ReadAsByteArrayAsync());
        Assert.Equal($"\"{row.Sha256}\"", response.Headers.ETag?.Tag);
        Assert.Equal(row.GenerationTime, response.Content.Headers.LastModified);
        Assert.Contains("immutable", response.Headers.CacheControl!.Extensions.Select(e => e.Name));
        Assert.Equal("application/zip", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(row.Filename, response.Content.Headers.ContentDisposition?.FileName);
    }

    [Fact]
    public async Task Head_gives_the_headers_of_the_file_without_its_bytes()
    {
        var row = Row("Adresse", "Current", "JSON", 3);
        using var response = await sample.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, Path + "?Filename=" + row.Filename));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(row.SizeBytes, response.Content.Headers.ContentLength);
        Assert.Equal($"\"{row.Sha256}\"", response.Headers.ETag?.Tag);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Range_request_returns_206_with_those_bytes()
    {
        var row = Row("Adresse", "Current", "JSON", 3);
        using var request = new HttpRequestMessage(HttpMethod.Get, Path + "?Filename=" + row.Filename);
        request.Headers.Range = new RangeHeaderValue(100, 199);
        using var response = await sample.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(sample.Layout.Bytes[row.Filename].AsSpan(100, 100).ToArray(), await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(100, response.Content.Headers.ContentRange?.From);
        Assert.Equal(row.SizeBytes, response.Content.Headers.ContentRange?.Length);
    }

    [Fact]
    public async Task Range_beyond_the_end_is_416()
    {
        var row = Row("Adresse", "Current", "JSON", 3);
        using var request = new HttpRequestMessage(HttpMethod.Get, Path + "?Filename=" + row.Filename);
        request.Headers.Range = new RangeHeaderValue(row.SizeBytes + 10, null);
        using var response = await sample.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
    }

    [Fact]
    public async Task If_None_Match_with_the_sha256_is_304()
    {
        var row = Row("Adresse", "Current", "JSON", 3);
        using var request = new HttpRequestMessage(HttpMethod.Get, Path + "?Filename=" + row.Filename);
        request.Headers.IfNoneMatch.Add(new EntityTagHeaderValue($"\"{row.Sha256}\""));
        using var response = await sample.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task If_Modified_Since_the_generation_time_is_304_and_before_it_200()
    {
        var row = Row("Adresse", "Current", "JSON", 3);
        using var same = new HttpRequestMessage(HttpMethod.Get, Path + "?Filename=" + row.Filename);
        same.Headers.IfModifiedSince = row.GenerationTime;
        using var notModified = await sample.Client.SendAsync(same);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);

        using var earlier = new HttpRequestMessage(HttpMethod.Get, Path + "?Filename=" + row.Filename);
        earlier.Headers.IfModifiedSince = row.GenerationTime.AddDays(-1);
        using var modified = await sample.Client.SendAsync(earlier);
        Assert.Equal(HttpStatusCode.OK, modified.StatusCode);
    }

    [Fact]
    public async Task An_unknown_filename_is_404()
    {
        using var response = await sample.Client.GetAsync(Path + "?Filename=DAR_V1_Adresse_TotalDownload_JSON_Current_99.zip");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("..%2F..%2Fetc%2Fpasswd", "path")]
    [InlineData("DAR%2FV1%2FAdresse%2FDAR_V1_Adresse_TotalDownload_JSON_Current_3.zip", "path")]
    [InlineData("..", "path")]
    [InlineData("a%5Cb.zip", "path")]
    [InlineData("DAR%01.zip", "control")]
    [InlineData("DAR%00.zip", "control")]
    [InlineData("a%20b.zip", "not a file name")]
    public async Task Filenames_that_look_like_paths_or_carry_control_characters_are_400(string filename, string expected)
        => await sample.Client.BadRequestAsync(Path + "?Filename=" + filename, expected);

    [Fact]
    public async Task An_overlong_filename_is_400()
        => await sample.Client.BadRequestAsync(Path + "?Filename=" + new string('a', 300) + ".zip", "longer than");

    [Theory]
    [InlineData("", "give Filename")]
    [InlineData("?Filename=x.zip&Register=DAR", "alone")]
    [InlineData("?LatestTotalForEntity=Adresse&Type=Current&Format=JSON", "only together with Register")]
    [InlineData("?Register=DAR&Type=Current", "Type: only together with LatestTotalForEntity")]
    [InlineData("?Register=DAR&Format=JSON", "Format: only together with LatestTotalForEntity")]
    [InlineData("?Register=DAR&LatestTotalForEntity=Adresse&Format=JSON", "needs Type")]
    [InlineData("?Register=DAR&LatestTotalForEntity=Adresse&Type=Current", "needs Format")]
    [InlineData("?Register=DAR&LatestTotalForEntity=Adresse&Type=Sometimes&Format=JSON", "Type")]
    [InlineData("?Register=DAR&LatestTotalForEntity=Adresse&Type=Current&Format=JS-ON", "Format")]
    [InlineData("?Register=DAR&Version=x", "Version")]
    [InlineData("?Register=DAR&Entity=Adresse", "unknown parameter 'Entity'")]
    public async Task Parameter_rules_of_the_guide_are_400(string query, string expected)
        => await sample.Client.BadRequestAsync(Path + query, expected);

    [Fact]
    public async Task Latest_total_for_entity_is_the_newest_generation_in_the_newest_version()
    {
        using var response = await sample.Client.GetAsync(Path + "?Register=DAR&LatestTotalForEntity=Adresse&Type=Current&Format=JSON");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var expected = Row("Adresse", "Current", "JSON", 3, version: 2);
        Assert.Equal(expected.Filename, response.Content.Headers.ContentDisposition?.FileName);
        Assert.Equal(sample.Layout.Bytes[expected.Filename], await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Latest_total_for_entity_with_version_and_lower_case_names_picks_that_version()
    {
        using var response = await sample.Client.GetAsync(Path + "?register=DAR&latesttotalforentity=adresse&type=current&format=json&version=1");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Row("Adresse", "Current", "JSON", 3).Filename, response.Content.Headers.ContentDisposition?.FileName);
    }

    [Fact]
    public async Task Latest_total_that_does_not_exist_is_404()
    {
        using var response = await sample.Client.GetAsync(Path + "?Register=DAR&LatestTotalForEntity=Adresse&Type=Temporal&Format=JSON");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using var unknown = await sample.Client.GetAsync(Path + "?Register=BBR&LatestTotalForEntity=Adresse&Type=Current&Format=JSON");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Latest_total_split_into_parts_is_one_zip_of_the_parts()
    {
        using var response = await sample.Client.GetAsync(Path + "?Register=DAR&LatestTotalForEntity=Husnummer&Type=Current&Format=JSON");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var entries = await EntriesAsync(response);
        Assert.Equal(["DAR_V1_Husnummer_TotalDownload_JSON_Current_3_part1of2.zip", "DAR_V1_Husnummer_TotalDownload_JSON_Current_3_part2of2.zip"], entries.Keys.Order());
        Assert.All(entries, e => Assert.Equal(sample.Layout.Bytes[e.Key], e.Value));
    }

    [Fact]
    public async Task Register_alone_streams_every_newest_total_as_stored_entries_of_one_zip()
    {
        using var response = await sample.Client.GetAsync(Path + "?Register=DAR", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // Streamed: no Content-Length, chunked.
        Assert.Null(response.Content.Headers.ContentLength);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var entries = Entries(bytes);
        string[] expected =
        [
            "DAR_V1_Adresse_TotalDownload_JSON_Bitemporal_1.zip",
            "DAR_V1_Adresse_TotalDownload_CSV_Current_3.zip",
            "DAR_V2_Adresse_TotalDownload_JSON_Current_3.zip",
            "DAR_V1_Husnummer_TotalDownload_JSON_Current_3_part1of2.zip",
            "DAR_V1_Husnummer_TotalDownload_JSON_Current_3_part2of2.zip",
        ];
        Assert.Equal(expected.Order(), entries.Keys.Order());
        Assert.All(entries, e => Assert.Equal(sample.Layout.Bytes[e.Key], e.Value));
        // Method 0 (stored) in every local header: the entries are zips already.
        Assert.All(LocalHeaderMethods(bytes), m => Assert.Equal(0, m));
    }

    [Fact]
    public async Task Register_alone_with_version_bundles_only_that_version()
    {
        using var response = await sample.Client.GetAsync(Path + "?Register=DAR&Version=2");
        var entries = await EntriesAsync(response);
        Assert.Equal(["DAR_V2_Adresse_TotalDownload_JSON_Current_3.zip"], entries.Keys);
    }

    private static async Task<Dictionary<string, byte[]>> EntriesAsync(HttpResponseMessage response) => Entries(await response.Content.ReadAsByteArrayAsync());

    private static Dictionary<string, byte[]> Entries(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        return archive.Entries.ToDictionary(e => e.FullName, e =>
        {
            using var stream = e.Open();
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        });
    }

    private static IEnumerable<int> LocalHeaderMethods(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        var count = archive.Entries.Count;
        var found = 0;
        for (var i = 0; i + 30 < zip.Length && found < count; i++)
        {
            if (zip[i] == 0x50 && zip[i + 1] == 0x4b && zip[i + 2] == 0x03 && zip[i + 3] == 0x04)
            {
                found++;
                yield return BitConverter.ToUInt16(zip, i + 8);
                var nameLength = BitConverter.ToUInt16(zip, i + 26);
                var extraLength = BitConverter.ToUInt16(zip, i + 28);
                var name = System.Text.Encoding.UTF8.GetString(zip, i + 30, nameLength);
                // Skip the stored entry's data, which itself contains local headers of the inner zip.
                i += 30 + nameLength + extraLength + (int)archive.GetEntry(name)!.CompressedLength - 1;
            }
        }
    }
}
