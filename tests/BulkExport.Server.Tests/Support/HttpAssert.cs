using System.Net;

namespace BulkExport.Server.Tests.Support;

internal static class HttpAssert
{
    /// <summary>GETs <paramref name="url"/> and checks the answer is 400 with a detail containing <paramref name="expected"/>.</summary>
    public static async Task BadRequestAsync(this HttpClient client, string url, string expected)
    {
        using var response = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
