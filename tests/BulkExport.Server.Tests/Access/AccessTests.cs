using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BulkExport.Publishing.Stores;
using BulkExport.Server.Access;
using BulkExport.Server.Configuration;
using BulkExport.Server.Tests.Support;

namespace BulkExport.Server.Tests.Access;

/// <summary>
/// DAR public, BBR restricted to API keys or service users, MAT to API keys only. Keys and passwords
/// live in a credentials file as hashes; the file is rewritten to rotate them.
/// </summary>
public sealed class AccessTests : IAsyncLifetime
{
    private const string MirrorKey = "mirror-a-3b1f0c9e7d5a4b2f8e6c1d0a9b7f5e3c";
    private const string MatKey = "mat-only-6e2d4c8a0b9f7e5d3c1a2b4f6e8d0c9a";
    private const string Password = "correct horse battery staple";

    private readonly TempDirectory _root = new();
    private TestServer _server = null!;

    private string CredentialsPath => Path.Combine(_root.Path, "credentials.yaml");

    public async Task InitializeAsync()
    {
        foreach (var register in new[] { "DAR", "BBR", "MAT" })
        {
            await PublishedLayout.SampleAsync(new LocalObjectStore(Path.Combine(_root.Path, register)), register);
        }

        WriteCredentials(("mirror-a", MirrorKey, "[BBR, MAT]"), ("mat-only", MatKey, "[MAT]"));
        var settings = ServerSettings.Parse($"""
            credentialsFile: {CredentialsPath}
            registers:
              DAR: {"{access: public}"}
              BBR: {"{access: restricted}"}
              MAT: {"{access: restricted, methods: [apiKey]}"}
            """, "server.yaml");
        _server = await TestServer.StartAsync(
            [.. new[] { "DAR", "BBR", "MAT" }.Select(r => TestServer.LocalSchedule(r, Path.Combine(_root.Path, r)))], settings);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _root.Dispose();
    }

    private void WriteCredentials(params (string Id, string Key, string Registers)[] keys)
    {
        var hash = PasswordHash.Create(Password, iterations: 1000);
        var text = new StringBuilder("apiKeys:\n");
        foreach (var (id, key, registers) in keys)
        {
            text.Append($"  - {{id: {id}, sha256: {Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant()}, registers: {registers}}}\n");
        }

        text.Append($"users:\n  - {{name: svc, password: '{hash}', registers: [BBR, MAT]}}\n");
        File.WriteAllText(CredentialsPath, text.ToString());
    }

    private async Task<HttpResponseMessage> GetAsync(string path, string? authorization = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        return await _server.Client.SendAsync(request);
    }

    private static string Basic(string name, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{name}:{password}"));

    private static async Task<HashSet<string>> RegistersListedAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var rows = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.EnumerateArray();
        return [.. rows.Select(r => r.GetProperty("Register").GetString()!)];
    }

    [Fact]
    public async Task Anonymous_listing_shows_only_public_registers()
    {
        using var response = await GetAsync("/FileDownloads/GetAvailableFileDownloads");
        Assert.Equal(["DAR"], await RegistersListedAsync(response));
        // The answer depends on the caller: shared caches must not keep it.
        Assert.True(response.Headers.CacheControl?.Private);
    }

    [Fact]
    public async Task A_restricted_register_without_a_credential_is_401_with_a_challenge()
    {
        using var response = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=BBR");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Basic", response.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Fact]
    public async Task Every_wrong_credential_gets_the_same_401_without_a_hint()
    {
        var bodies = new List<string>();
        foreach (var authorization in new[] { null, "wrong-key", Basic("svc", "wrong password"), Basic("nobody", Password), "Basic !!!notbase64", MirrorKey + "x" })
        {
            using var response = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=BBR", authorization);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            bodies.Add(body.GetProperty("detail").GetString()!);
        }

        Assert.Single(bodies.Distinct());
    }

    [Fact]
    public async Task A_wrong_credential_is_401_even_on_a_public_register()
    {
        using var response = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=DAR", "wrong-key");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task An_api_key_opens_the_registers_it_is_granted()
    {
        using var listing = await GetAsync("/FileDownloads/GetAvailableFileDownloads", MirrorKey);
        Assert.Equal(["BBR", "DAR", "MAT"], (await RegistersListedAsync(listing)).Order());
        using var file = await GetAsync("/FileDownloads/GetFile?Filename=BBR_V1_Adresse_TotalDownload_JSON_Current_3.zip", MirrorKey);
        Assert.Equal(HttpStatusCode.OK, file.StatusCode);
        Assert.True(file.Headers.CacheControl?.Private);
    }

    [Fact]
    public async Task A_register_or_file_the_key_is_not_granted_is_404()
    {
        using var listing = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=BBR", MatKey);
        Assert.Equal(HttpStatusCode.NotFound, listing.StatusCode);
        using var file = await GetAsync("/FileDownloads/GetFile?Filename=BBR_V1_Adresse_TotalDownload_JSON_Current_3.zip", MatKey);
        Assert.Equal(HttpStatusCode.NotFound, file.StatusCode);
        using var latest = await GetAsync("/registers/BBR/latest/Adresse/Current/JSON", MatKey);
        Assert.Equal(HttpStatusCode.NotFound, latest.StatusCode);
    }

    [Fact]
    public async Task Anonymous_requests_for_restricted_and_for_missing_files_look_the_same()
    {
        using var restricted = await GetAsync("/FileDownloads/GetFile?Filename=BBR_V1_Adresse_TotalDownload_JSON_Current_3.zip");
        using var missing = await GetAsync("/FileDownloads/GetFile?Filename=BBR_V1_Adresse_TotalDownload_JSON_Current_99.zip");
        Assert.Equal(HttpStatusCode.Unauthorized, restricted.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        using var missingWithKey = await GetAsync("/FileDownloads/GetFile?Filename=BBR_V1_Adresse_TotalDownload_JSON_Current_99.zip", MirrorKey);
        Assert.Equal(HttpStatusCode.NotFound, missingWithKey.StatusCode);
    }

    [Fact]
    public async Task A_service_user_with_basic_reads_where_basic_is_accepted()
    {
        using var bbr = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=BBR", Basic("svc", Password));
        Assert.Equal(["BBR"], await RegistersListedAsync(bbr));
        // MAT accepts API keys only: the same user is not let in there.
        using var mat = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=MAT", Basic("svc", Password));
        Assert.Equal(HttpStatusCode.NotFound, mat.StatusCode);
    }

    [Fact]
    public async Task Rewritten_credentials_file_rotates_keys_without_a_restart()
    {
        const string newKey = "mirror-b-0f9e8d7c6b5a49382716f5e4d3c2b1a0";
        WriteCredentials(("mirror-b", newKey, "[BBR]"));
        await _server.RefreshAsync();
        try
        {
            using var old = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=BBR", MirrorKey);
            Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
            using var rotated = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=BBR", newKey);
            Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);

            // A broken file is refused and the credentials in force stay.
            File.WriteAllText(CredentialsPath, "apiKeys:\n  - {id: x, sha256: nothex, registers: [BBR]}\n");
            await _server.RefreshAsync();
            using var kept = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=BBR", newKey);
            Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
            Assert.Contains(_server.Logs.Lines, l => l.Contains("credentials file rejected", StringComparison.Ordinal) && l.Contains("apiKeys[0].sha256", StringComparison.Ordinal));
        }
        finally
        {
            WriteCredentials(("mirror-a", MirrorKey, "[BBR, MAT]"), ("mat-only", MatKey, "[MAT]"));
            await _server.RefreshAsync();
        }
    }

    [Fact]
    public async Task Access_log_names_the_key_id_and_never_the_secret()
    {
        using var response = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=MAT", MirrorKey);
        using var user = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=BBR", Basic("svc", Password));
        using var wrong = await GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=BBR", "not-a-key-123");
        var lines = _server.Logs.Lines.ToList();
        Assert.Contains(lines, l => l.Contains("Register=MAT 200", StringComparison.Ordinal) && l.Contains("caller=key:mirror-a", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("Register=BBR 200", StringComparison.Ordinal) && l.Contains("caller=user:svc", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("Register=BBR 401", StringComparison.Ordinal) && l.Contains("caller=rejected-credential", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(MirrorKey, StringComparison.Ordinal) || l.Contains(Password, StringComparison.Ordinal) || l.Contains("not-a-key-123", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Data_json_lists_restricted_registers_only_to_callers_who_may_read_them()
    {
        using var anonymous = await GetAsync("/data.json");
        var anonymousTitles = Titles(await anonymous.Content.ReadAsStringAsync());
        Assert.All(anonymousTitles, t => Assert.StartsWith("DAR ", t, StringComparison.Ordinal));
        using var withKey = await GetAsync("/data.json", MirrorKey);
        var json = JsonDocument.Parse(await withKey.Content.ReadAsStringAsync()).RootElement;
        var bbr = json.GetProperty("dataset").EnumerateArray().First(d => d.GetProperty("title").GetString()!.StartsWith("BBR ", StringComparison.Ordinal));
        Assert.Equal("restricted public", bbr.GetProperty("accessLevel").GetString());
    }

    private static List<string> Titles(string json) =>
        [.. JsonDocument.Parse(json).RootElement.GetProperty("dataset").EnumerateArray().Select(d => d.GetProperty("title").GetString()!)];
}

public sealed class RateLimitTests : IAsyncLifetime
{
    private const string Key = "rate-key-1c2b3a4d5e6f7a8b9c0d1e2f3a4b5c6d";
    private const string OtherKey = "rate-key-2c2b3a4d5e6f7a8b9c0d1e2f3a4b5c6d";
    private readonly TempDirectory _root = new();
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        await PublishedLayout.SampleAsync(new LocalObjectStore(_root.Path));
        var credentials = Path.Combine(_root.Path, "credentials.yaml");
        File.WriteAllText(credentials, $"""
            apiKeys:
              - {"{"}id: busy, sha256: {Hex(Key)}, registers: ["*"]{"}"}
              - {"{"}id: calm, sha256: {Hex(OtherKey)}, registers: ["*"]{"}"}
            """);
        var settings = ServerSettings.Parse($"credentialsFile: {credentials}\nrateLimit: {{requestsPerSecond: 1, burst: 3}}\n", "server.yaml");
        _server = await TestServer.StartAsync([TestServer.LocalSchedule("DAR", _root.Path)], settings);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _root.Dispose();
    }

    private static string Hex(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant();

    private async Task<HttpResponseMessage> GetAsync(string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/FileDownloads/GetAvailableFileDownloads?Register=DAR");
        request.Headers.TryAddWithoutValidation("Authorization", key);
        return await _server.Client.SendAsync(request);
    }

    [Fact]
    public async Task A_key_over_its_limit_gets_429_with_Retry_After_and_other_keys_do_not()
    {
        // Twelve at once against a bucket of three refilled by one a second: some must be refused.
        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => GetAsync(Key)));
        var refused = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, r => Assert.True(r.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1)));
        using var other = await GetAsync(OtherKey);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        using var probe = await _server.Client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, probe.StatusCode);
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }
}
