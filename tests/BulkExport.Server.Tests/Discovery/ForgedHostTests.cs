using System.Net;
using BulkExport.Server.Configuration;
using BulkExport.Server.Tests.Support;

namespace BulkExport.Server.Tests.Discovery;

/// <summary>
/// Listings are publicly cacheable and carry absolute links, so the Host a request names must never
/// reach them unchecked: a forged one would be served from a shared cache to everyone after it.
/// </summary>
public sealed class ForgedHostTests : IAsyncLifetime
{
    private const string Forged = "evil.example";
    private static readonly string[] Listings = ["/data.json", "/registers/DAR/feed.atom", "/"];

    private readonly TempDirectory _root = new();

    public async Task InitializeAsync() => await PublishedLayout.SampleAsync(new Publishing.Stores.LocalObjectStore(_root.Path));

    public Task DisposeAsync()
    {
        _root.Dispose();
        return Task.CompletedTask;
    }

    private Task<TestServer> StartAsync(string settingsYaml) =>
        TestServer.StartAsync([TestServer.LocalSchedule("DAR", _root.Path)], ServerSettings.Parse(settingsYaml, "server.yaml"));

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(TestServer server, string path, string host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = host;
        using var response = await server.Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Without_settings_a_forged_host_gets_400_and_no_links_while_loopback_and_probes_answer()
    {
        await using var server = await StartAsync("");
        foreach (var path in Listings)
        {
            var (status, body) = await GetAsync(server, path, Forged);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.DoesNotContain(Forged, body, StringComparison.OrdinalIgnoreCase);
        }

        // The demo and a port-forward reach the service as localhost; its links follow that.
        var (ok, json) = await GetAsync(server, "/data.json", $"localhost:{server.BaseAddress.Port}");
        Assert.Equal(HttpStatusCode.OK, ok);
        Assert.Contains($"\"downloadURL\":\"http://localhost:{server.BaseAddress.Port}/FileDownloads/GetFile?Filename=", json, StringComparison.Ordinal);

        // kubelet probes name the pod's address as Host.
        var probe = await GetAsync(server, "/healthz", "10.1.2.3:8080");
        Assert.True(probe.Status == HttpStatusCode.OK, probe.Body);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(server, "/readyz", "10.1.2.3:8080")).Status);
        Assert.Contains(server.Logs.Lines, l => l.Contains("neither publicBaseUrl nor allowedHosts is set", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_allowedHosts_only_the_listed_names_are_answered_and_links_use_them()
    {
        await using var server = await StartAsync("allowedHosts: [downloads.example.org, '*.mirror.example.org']");
        foreach (var path in Listings)
        {
            var (status, body) = await GetAsync(server, path, Forged);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.DoesNotContain(Forged, body, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync(server, path, "127.0.0.1")).Status);
        }

        var (ok, feed) = await GetAsync(server, "/registers/DAR/feed.atom", "downloads.example.org");
        Assert.Equal(HttpStatusCode.OK, ok);
        Assert.Contains("href=\"http://downloads.example.org/FileDownloads/GetFile?Filename=", feed, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(server, "/data.json", "eu.mirror.example.org")).Status);
        Assert.DoesNotContain(server.Logs.Lines, l => l.Contains("neither publicBaseUrl nor allowedHosts", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_publicBaseUrl_links_name_it_whatever_the_host_says()
    {
        await using var server = await StartAsync("publicBaseUrl: https://downloads.example.org/bulk");
        foreach (var path in Listings)
        {
            var (status, body) = await GetAsync(server, path, Forged);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.DoesNotContain(Forged, body, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("https://downloads.example.org/bulk/", body, StringComparison.Ordinal);
        }
    }
}
