using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using BulkExport.Operator.Kubernetes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace BulkExport.Operator.Tests.Kubernetes;

/// <summary>The kubeconfig as the official client reads it, with requests through <see cref="KubeApiClient"/> to a real HTTP server.</summary>
public sealed class KubeConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kubeconfig").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static string SelfSignedPem()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return cert.ExportCertificatePem();
    }

    private string Write(string yaml)
    {
        var path = Path.Combine(_dir, "config");
        File.WriteAllText(path, yaml);
        return path;
    }

    /// <summary>An HTTP server answering any GET with an object and recording the Authorization header.</summary>
    private static async Task<(WebApplication App, Func<string?> Seen)> EchoServerAsync()
    {
        string? seen = null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Run(async ctx =>
        {
            seen = ctx.Request.Headers.Authorization;
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}""");
        });
        await app.StartAsync();
        return (app, () => seen);
    }

    [Fact]
    public void The_current_context_selects_cluster_user_and_namespace()
    {
        var path = Write($"""
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
                  certificate-authority-data: {B64(SelfSignedPem())}
            users:
              - name: dev
                user: {"{"}token: dev-token{"}"}
              - name: admin
                user: {"{"}token: admin-token{"}"}
            """);

        var config = KubeConfig.FromFile(path);

        Assert.Equal("https://prod.example:6443", config.Host.TrimEnd('/'));
        Assert.Equal("registers", config.Namespace);
        Assert.Equal("admin-token", config.AccessToken);
        Assert.Single(config.SslCaCerts!);
    }

    [Fact]
    public async Task An_exec_credential_plugin_token_is_sent_as_the_bearer_token()
    {
        var (app, seen) = await EchoServerAsync();
        await using var _ = app;
        // What aws eks get-token, gke-gcloud-auth-plugin and kubelogin print: an ExecCredential.
        var plugin = Path.Combine(_dir, "get-token.sh");
        File.WriteAllText(plugin, """
            #!/bin/sh
            echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-token-42"}}'
            """);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(plugin, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
        }

        var path = Write($$"""
            apiVersion: v1
            kind: Config
            current-context: eks
            contexts:
              - name: eks
                context: {cluster: eks, user: eks}
            clusters:
              - name: eks
                cluster: {server: "{{app.Urls.First()}}"}
            users:
              - name: eks
                user:
                  exec:
                    apiVersion: client.authentication.k8s.io/v1
                    command: {{plugin}}
                    interactiveMode: Never
            """);

        using var client = new KubeApiClient(KubeConfig.FromFile(path));
        await client.GetAsync(ResourceType.ConfigMaps, "ns", "x", default);

        Assert.Equal("Bearer exec-token-42", seen());
    }

    [Fact]
    public void A_missing_kubeconfig_outside_a_cluster_names_the_path_and_the_fix()
    {
        var previous = Environment.GetEnvironmentVariable("KUBECONFIG");
        Environment.SetEnvironmentVariable("KUBECONFIG", Path.Combine(_dir, "absent"));
        try
        {
            var e = Assert.Throws<InvalidOperationException>(KubeConfig.Load);
            Assert.Contains(Path.Combine(_dir, "absent"), e.Message, StringComparison.Ordinal);
            Assert.Contains("KUBECONFIG", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("KUBECONFIG", previous);
        }
    }
}
