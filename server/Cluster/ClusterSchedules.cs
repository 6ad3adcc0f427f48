using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using BulkExport.Api;
using Microsoft.Extensions.Logging;

namespace BulkExport.Server.Cluster;

/// <summary>Where the Kubernetes API is and how to authenticate: in a pod, the service account's token and CA.</summary>
internal sealed record KubernetesConnection(Uri BaseAddress, string? TokenFile, string? CaFile)
{
    private const string ServiceAccount = "/var/run/secrets/kubernetes.io/serviceaccount";

    public static KubernetesConnection InCluster()
    {
        var host = Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST");
        var port = Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_PORT") ?? "443";
        if (string.IsNullOrEmpty(host))
        {
            throw new InvalidOperationException("--namespaces needs the Kubernetes API: KUBERNETES_SERVICE_HOST is not set (not in a pod?); give --kube-api");
        }

        var authority = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host;
        return new KubernetesConnection(new Uri($"https://{authority}:{port}/"), $"{ServiceAccount}/token", $"{ServiceAccount}/ca.crt");
    }
}

/// <summary>
/// Reads the ExportSchedules of the given namespaces (all when the list is <c>*</c>) with a plain
/// list request each refresh; no watch, because the catalogs are polled on the same timer anyway.
/// Every schedule goes through the same validation as a <c>--config</c> file; an invalid one is
/// skipped with a warning (the operator reports it on the schedule).
/// </summary>
internal sealed partial class ClusterSchedules : IDisposable
{
    private readonly HttpClient _http;
    private readonly KubernetesConnection _connection;
    private readonly ILogger _logger;

    public ClusterSchedules(IReadOnlyList<string> namespaces, KubernetesConnection connection, ILogger logger)
    {
        Namespaces = namespaces;
        _connection = connection;
        _logger = logger;
        var handler = new SocketsHttpHandler();
        if (connection.CaFile is { } caFile && File.Exists(caFile))
        {
            var ca = X509CertificateLoader.LoadCertificateFromFile(caFile);
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (errors == SslPolicyErrors.None)
                {
                    return true;
                }

                if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0)
                {
                    return false;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(new X509Certificate2(certificate));
            };
        }

        _http = new HttpClient(handler) { BaseAddress = connection.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public IReadOnlyList<string> Namespaces { get; }

    public bool AllNamespaces => Namespaces is ["*"];

    public async Task<IReadOnlyList<(ExportSchedule Schedule, string Source)>> ListAsync(CancellationToken cancellationToken)
    {
        var found = new List<(ExportSchedule, string)>();
        foreach (var path in AllNamespaces
            ? ["apis/bulkexport.io/v1alpha1/exportschedules"]
            : Namespaces.Select(ns => $"apis/bulkexport.io/v1alpha1/namespaces/{Uri.EscapeDataString(ns)}/exportschedules"))
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            // Projected service account tokens rotate: read the file for every request.
            if (_connection.TokenFile is { } tokenFile && File.Exists(tokenFile))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(tokenFile, cancellationToken).ConfigureAwait(false)).Trim());
            }

            using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"GET {path}: {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
            }

            var list = JsonNode.Parse(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
            foreach (var item in list?["items"]?.AsArray() ?? [])
            {
                var source = $"{(string?)item?["metadata"]?["namespace"]}/{(string?)item?["metadata"]?["name"]}";
                // Items of a list carry no apiVersion and kind; the list's type says what they are.
                var schedule = item?.DeepClone() as JsonObject;
                if (schedule is not null)
                {
                    schedule["apiVersion"] ??= ExportSchedule.ApiVersionV1Alpha1;
                    schedule["kind"] ??= ExportSchedule.KindName;
                }

                try
                {
                    found.Add((ScheduleDocument.FromJson(schedule, source), source));
                }
                catch (ScheduleValidationException e)
                {
                    InvalidSchedule(source, e.Message);
                }
            }
        }

        return found;
    }

    public void Dispose() => _http.Dispose();

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "ExportSchedule {Source} is not valid and is not served: {Reason}")]
    private partial void InvalidSchedule(string source, string reason);
}
