using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using BulkExport.Operator.Kubernetes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace BulkExport.Operator.Tests.Kubernetes;

public sealed class KubeConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kubeconfig").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (string CertPem, string KeyPem) SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return (cert.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    [Fact]
    public void The_current_context_selects_cluster_user_and_namespace_with_inline_certificates()
    {
        var (cert, key) = SelfSigned();
        var yaml = $"""
            apiVersion: v1
            kind: Config
            current-context: prod
            contexts:
              - name: dev
                context: {"{"}cluster: dev, user: dev{"}"}
              - name: prod
                context: {"{"}cluster: prod, user: admin, namespace: registers{"}"}
            clusters:
              - name: dev
                cluster: {"{"}server: "https://dev:6443", insecure-skip-tls-verify: true{"}"}
              - name: prod
                cluster:
                  server: https://prod.example:6443
                  certificate-authority-data: {B64(cert)}
            users:
              - name: dev
                user: {"{"}token: dev-token{"}"}
              - name: admin
                user:
                  client-certificate-data: {B64(cert)}
                  client-key-data: {B64(key)}
            """;

        var config = KubeConfig.FromKubeConfigYaml(yaml, _dir);

        Assert.Equal(new Uri("https://prod.example:6443"), config.Server);
        Assert.Equal("registers", config.Namespace);
        Assert.Single(config.CertificateAuthority!);
        Assert.NotNull(config.ClientCertificate);
        Assert.True(config.ClientCertificate!.HasPrivateKey);
        Assert.False(config.InsecureSkipTlsVerify);
        Assert.Null(config.Token);
    }

    [Fact]
    public void Another_context_can_use_a_bearer_token_files_relative_to_the_kubeconfig_and_skip_tls_verification()
    {
        var (cert, _) = SelfSigned();
        File.WriteAllText(Path.Combine(_dir, "ca.crt"), cert);
        var yaml = """
            current-context: dev
            contexts:
              - name: dev
                context: {cluster: dev, user: dev}
            clusters:
              - name: dev
                cluster: {server: "https://dev:6443", certificate-authority: ca.crt, insecure-skip-tls-verify: true}
            users:
              - name: dev
                user: {token: dev-token}
            """;

        var config = KubeConfig.FromKubeConfigYaml(yaml, _dir);

        Assert.Equal("dev-token", config.Token);
        Assert.True(config.InsecureSkipTlsVerify);
        Assert.Single(config.CertificateAuthority!);
    }

    [Fact]
    public void Exec_credentials_are_refused_with_a_message_saying_what_to_use_instead()
    {
        var yaml = """
            current-context: eks
            contexts: [{name: eks, context: {cluster: c, user: u}}]
            clusters: [{name: c, cluster: {server: "https://x"}}]
            users: [{name: u, user: {exec: {command: aws}}}]
            """;

        var e = Assert.Throws<InvalidOperationException>(() => KubeConfig.FromKubeConfigYaml(yaml, _dir));
        Assert.Contains("token or client certificate", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void In_cluster_config_reads_the_service_account_token_ca_and_namespace()
    {
        var (cert, _) = SelfSigned();
        File.WriteAllText(Path.Combine(_dir, "ca.crt"), cert);
        File.WriteAllText(Path.Combine(_dir, "token"), "sa-token\n");
        File.WriteAllText(Path.Combine(_dir, "namespace"), "bulkexport\n");

        var config = KubeConfig.InCluster("10.0.0.1", "443", _dir);

        Assert.Equal(new Uri("https://10.0.0.1:443"), config.Server);
        Assert.Equal("bulkexport", config.Namespace);
        Assert.Equal(Path.Combine(_dir, "token"), config.TokenFile);
        Assert.Single(config.CertificateAuthority!);
    }

    [Fact]
    public async Task A_token_file_is_sent_as_a_bearer_token()
    {
        File.WriteAllText(Path.Combine(_dir, "token"), "sa-token\n");
        string? seen = null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        await using var app = builder.Build();
        app.Run(async ctx =>
        {
            seen = ctx.Request.Headers.Authorization;
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync("""{"metadata":{"name":"x"}}""");
        });
        await app.StartAsync();
        var url = app.Urls.First();

        using var client = new KubeApiClient(new KubeConfig { Server = new Uri(url), TokenFile = Path.Combine(_dir, "token") });
        await client.GetAsync(ResourceType.ConfigMaps, "ns", "x", default);

        Assert.Equal("Bearer sa-token", seen);
    }
}
