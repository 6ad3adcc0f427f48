using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using BulkExport.Api;

namespace BulkExport.Operator.Kubernetes;

/// <summary>
/// Where the API server is and how to authenticate: in-cluster (service-account token, CA and
/// namespace files) or a kubeconfig's current context (CA data or file, client certificate, bearer
/// token or token file, <c>insecure-skip-tls-verify</c>).
/// </summary>
internal sealed class KubeConfig
{
    public const string ServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";

    public required Uri Server { get; init; }
    public string? Namespace { get; init; }
    public X509Certificate2Collection? CertificateAuthority { get; init; }
    public X509Certificate2? ClientCertificate { get; init; }
    public string? Token { get; init; }
    /// <summary>Re-read on every refresh: projected service-account tokens rotate under a running pod.</summary>
    public string? TokenFile { get; init; }
    public bool InsecureSkipTlsVerify { get; init; }

    /// <summary>In-cluster when KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG, else ~/.kube/config.</summary>
    public static KubeConfig Load()
    {
        var host = Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST");
        if (!string.IsNullOrEmpty(host))
        {
            return InCluster(host, Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_PORT") ?? "443", ServiceAccountDirectory);
        }

        var path = Environment.GetEnvironmentVariable("KUBECONFIG");
        if (string.IsNullOrEmpty(path))
        {
            path = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kube", "config");
        }
        else
        {
            // KUBECONFIG may list several files; like kubectl, the first one that exists wins here.
            path = path.Split(Path.PathSeparator).FirstOrDefault(File.Exists) ?? path.Split(Path.PathSeparator)[0];
        }

        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"no kubeconfig at '{path}' and KUBERNETES_SERVICE_HOST is not set; set KUBECONFIG or run in a cluster");
        }

        return FromKubeConfigYaml(File.ReadAllText(path), Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    public static KubeConfig InCluster(string host, string port, string directory)
    {
        var hostPart = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host;
        var ca = new X509Certificate2Collection();
        var caFile = Path.Combine(directory, "ca.crt");
        if (File.Exists(caFile))
        {
            ca.ImportFromPemFile(caFile);
        }

        var nsFile = Path.Combine(directory, "namespace");
        return new KubeConfig
        {
            Server = new Uri($"https://{hostPart}:{port}"),
            CertificateAuthority = ca,
            TokenFile = Path.Combine(directory, "token"),
            Namespace = File.Exists(nsFile) ? File.ReadAllText(nsFile).Trim() : null,
        };
    }

    /// <param name="baseDirectory">Relative file paths in a kubeconfig are relative to the file itself.</param>
    public static KubeConfig FromKubeConfigYaml(string yaml, string baseDirectory, string? context = null)
    {
        var root = ScheduleDocument.ParseYaml(yaml).FirstOrDefault() as JsonObject
            ?? throw new InvalidOperationException("kubeconfig is empty");
        var contextName = context ?? (string?)root["current-context"]
            ?? throw new InvalidOperationException("kubeconfig has no current-context");
        var ctx = Named(root, "contexts", contextName, "context");
        var cluster = Named(root, "clusters", (string?)ctx["cluster"] ?? "", "cluster");
        var user = ctx["user"] is null ? [] : Named(root, "users", (string)ctx["user"]!, "user");

        string Resolve(string file) => Path.IsPathRooted(file) ? file : Path.Combine(baseDirectory, file);
        string? Pem(JsonObject section, string dataKey, string fileKey) =>
            (string?)section[dataKey] is { } data ? Encoding.UTF8.GetString(Convert.FromBase64String(data))
            : (string?)section[fileKey] is { } file ? File.ReadAllText(Resolve(file))
            : null;

        X509Certificate2Collection? ca = null;
        if (Pem(cluster, "certificate-authority-data", "certificate-authority") is { } caPem)
        {
            ca = [];
            ca.ImportFromPem(caPem);
        }

        X509Certificate2? clientCert = null;
        var certPem = Pem(user, "client-certificate-data", "client-certificate");
        var keyPem = Pem(user, "client-key-data", "client-key");
        if (certPem is not null && keyPem is not null)
        {
            clientCert = X509Certificate2.CreateFromPem(certPem, keyPem);
        }

        if (user["exec"] is not null || user["auth-provider"] is not null)
        {
            throw new InvalidOperationException($"kubeconfig user of context '{contextName}' uses exec or auth-provider credentials, which this operator does not run; use a token or client certificate");
        }

        return new KubeConfig
        {
            Server = new Uri((string?)cluster["server"] ?? throw new InvalidOperationException($"cluster of context '{contextName}' has no server")),
            Namespace = (string?)ctx["namespace"],
            CertificateAuthority = ca,
            ClientCertificate = clientCert,
            Token = (string?)user["token"],
            TokenFile = (string?)user["tokenFile"] is { } tf ? Resolve(tf) : null,
            InsecureSkipTlsVerify = cluster["insecure-skip-tls-verify"] is JsonValue v && v.TryGetValue<bool>(out var skip) && skip,
        };
    }

    private static JsonObject Named(JsonObject root, string list, string name, string field) =>
        (root[list] as JsonArray)?.OfType<JsonObject>().FirstOrDefault(e => (string?)e["name"] == name)?[field] as JsonObject
        ?? throw new InvalidOperationException($"kubeconfig has no {list} entry named '{name}'");

    public HttpMessageHandler CreateHandler()
    {
        var sockets = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            // Many concurrent watches plus writes; the default (unlimited for HTTP/1.1) is what we want.
            EnableMultipleHttp2Connections = true,
        };
        if (Server.Scheme == Uri.UriSchemeHttps)
        {
            sockets.SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = ClientCertificate is null ? null : [ClientCertificate],
                RemoteCertificateValidationCallback = ValidateServerCertificate,
            };
        }

        return Token is null && TokenFile is null ? sockets : new BearerTokenHandler(Token, TokenFile) { InnerHandler = sockets };
    }

    private bool ValidateServerCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (InsecureSkipTlsVerify)
        {
            return true;
        }

        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (certificate is null || CertificateAuthority is not { Count: > 0 } || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        // The cluster CA is usually private: trust it alone rather than the machine's store.
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(CertificateAuthority);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return custom.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }

    private sealed class BearerTokenHandler(string? token, string? tokenFile) : DelegatingHandler
    {
        private static readonly TimeSpan RefreshAfter = TimeSpan.FromMinutes(1);
        private string? _cached = token;
        private DateTime _readAt = DateTime.MinValue;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (tokenFile is not null && DateTime.UtcNow - _readAt > RefreshAfter && File.Exists(tokenFile))
            {
                _cached = File.ReadAllText(tokenFile).Trim();
                _readAt = DateTime.UtcNow;
            }

            if (_cached is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _cached);
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
