using BulkExport.Server.Access;
using BulkExport.Server.Configuration;

namespace BulkExport.Server.Tests.Configuration;

public sealed class ServerSettingsTests
{
    [Fact]
    public void Empty_settings_give_the_defaults_with_every_register_public()
    {
        var settings = ServerSettings.Parse("", "server.yaml");
        Assert.Equal(TimeSpan.FromHours(12), settings.PresignLifetime);
        Assert.Equal(1 << 20, settings.PresignMinimumBandwidth);
        Assert.Null(settings.RateLimit);
        Assert.True(settings.AccessOf("DAR").IsPublic);
        Assert.Equal(ServerSettings.LoopbackHosts, settings.AcceptedHosts);
    }

    [Fact]
    public void AllowedHosts_are_what_is_accepted_and_publicBaseUrl_alone_accepts_any_host()
    {
        Assert.Equal(["downloads.example.org", "*.mirror.example.org", "[::1]"], ServerSettings.Parse("allowedHosts: [Downloads.Example.org, '*.mirror.example.org', '[::1]']", "server.yaml").AcceptedHosts);
        Assert.Null(ServerSettings.Parse("publicBaseUrl: https://downloads.example.org", "server.yaml").AcceptedHosts);
    }

    [Fact]
    public void Every_setting_is_typed_once()
    {
        var settings = ServerSettings.Parse("""
            publicBaseUrl: https://downloads.example.org/bulk
            presignLifetime: 36h
            presignMinimumBandwidth: 100Mbit/s
            refreshInterval: 15s
            listingMaxAge: 0s
            feedPageSize: 20
            credentialsFile: /etc/bulkexport/credentials.yaml
            rateLimit: {requestsPerSecond: 5, burst: 20}
            publisher: {name: Agency, email: data@agency.example}
            registers:
              BBR: {access: restricted, methods: [basic]}
            """, "server.yaml");
        Assert.Equal("https://downloads.example.org/bulk/", settings.PublicBaseUrl?.AbsoluteUri);
        Assert.Equal(TimeSpan.FromHours(36), settings.PresignLifetime);
        Assert.Equal(12_500_000, settings.PresignMinimumBandwidth);
        Assert.Equal(TimeSpan.FromSeconds(15), settings.RefreshInterval);
        Assert.Equal(TimeSpan.Zero, settings.ListingMaxAge);
        Assert.Equal(new RateLimitSettings(5, 20), settings.RateLimit);
        Assert.Equal(new RegisterAccess(false, false, true), settings.AccessOf("BBR"));
    }

    [Theory]
    [InlineData("presignLifetime: 8d", "presignLifetime")]
    [InlineData("presignLifetime: 200h", "presignLifetime")]
    [InlineData("presignMinimumBandwidth: fast", "presignMinimumBandwidth: 'fast' is not a rate")]
    [InlineData("presignMinimumBandwidth: 1MiB", "presignMinimumBandwidth: '1MiB' is not a rate")]
    [InlineData("presignMinimumBandwidth: 0B/s", "presignMinimumBandwidth: '0B/s' must be at least 1B/s")]
    [InlineData("refreshInterval: 0s", "refreshInterval")]
    [InlineData("feedPageSize: 0", "feedPageSize")]
    [InlineData("rateLimit: {burst: 3}", "rateLimit.requestsPerSecond: required")]
    [InlineData("publicBaseUrl: ftp://x", "publicBaseUrl")]
    [InlineData("allowedHosts: ['*']", "allowedHosts[0]: '*' accepts any Host header")]
    [InlineData("allowedHosts: [downloads.example.org, 'https://x.example']", "allowedHosts[1]: 'https://x.example' is not a host name")]
    [InlineData("allowedHosts: ['x.example:443']", "allowedHosts[0]")]
    [InlineData("allowedHosts: []", "allowedHosts: must be a non-empty list")]
    [InlineData("allowedHosts: downloads.example.org", "allowedHosts: must be a non-empty list")]
    [InlineData("publisher: {name: A, email: nobody}", "publisher.email")]
    [InlineData("registers: {dar: {access: public}}", "registers.dar")]
    [InlineData("registers: {DAR: {access: secret}}", "registers.DAR.access")]
    [InlineData("registers: {DAR: {access: restricted}}", "no credentialsFile")]
    [InlineData("registers: {DAR: {access: restricted, methods: [token]}}", "registers.DAR.methods")]
    [InlineData("presign: 1h", "presign: unknown setting")]
    public void Bad_settings_name_the_setting(string yaml, string expected)
    {
        var error = Assert.Throws<ConfigurationException>(() => ServerSettings.Parse(yaml, "server.yaml"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("apiKeys: [{id: a, sha256: abc, registers: [DAR]}]", "apiKeys[0].sha256")]
    [InlineData("apiKeys: [{sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, registers: [DAR]}]", "apiKeys[0].id")]
    [InlineData("apiKeys: [{id: a, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}]", "apiKeys[0].registers")]
    [InlineData("users: [{name: svc, password: plain-text, registers: [DAR]}]", "users[0].password")]
    [InlineData("users: [{name: 'a:b', password: x, registers: [DAR]}]", "users[0].name")]
    public void Bad_credentials_name_the_entry_and_field(string yaml, string expected)
    {
        var error = Assert.Throws<ConfigurationException>(() => CredentialSet.Parse(yaml, "credentials.yaml"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Password_hash_round_trips_and_rejects_other_passwords()
    {
        var hash = PasswordHash.Create("s3cret", iterations: 1000);
        Assert.True(PasswordHash.TryParse(hash.ToString(), out var parsed));
        Assert.True(parsed!.Verify("s3cret"));
        Assert.False(parsed.Verify("s3cret "));
        Assert.DoesNotContain("s3cret", hash.ToString(), StringComparison.Ordinal);
    }
}
