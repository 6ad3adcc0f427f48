using System.Diagnostics;
using System.Net.Http;
using System.Net.Sockets;

namespace BulkExport.E2E.Tests;

/// <summary>
/// Whether the end-to-end test can run here, decided once and quickly (it is part of the solution,
/// so <c>make test</c> discovers it): a Docker engine must answer, helm and kubectl must be in
/// .tools/bin, and every image must be present locally. A missing image is pulled only when
/// <c>E2E_PULL=1</c> (<c>make e2e</c> sets it), so a plain <c>make test</c> never waits on a registry.
/// </summary>
internal static class E2EEnvironment
{
    public const string K3sImage = "rancher/k3s:v1.33.5-k3s1";
    public const string PostgresImage = "postgres:16-alpine";
    public const string MinioImage = "minio/minio:RELEASE.2025-09-07T16-13-09Z";

    private static readonly Lazy<string?> Reason = new(Decide);

    /// <summary>Null when the test can run; otherwise the one line saying why not.</summary>
    public static string? SkipReason => Reason.Value;

    public static string RepoRoot { get; } = FindRoot();

    public static string Helm => Path.Combine(RepoRoot, ".tools", "bin", "helm");

    public static string Kubectl => Path.Combine(RepoRoot, ".tools", "bin", "kubectl");

    private static string? Decide()
    {
        if (Environment.GetEnvironmentVariable("E2E_SKIP") is { Length: > 0 } why)
        {
            return $"e2e skipped: E2E_SKIP={why}";
        }

        var socket = DockerSocket();
        if (socket is null)
        {
            return "e2e skipped: no Docker engine (no /var/run/docker.sock and DOCKER_HOST is not a unix socket)";
        }

        if (Get(socket, "/_ping") is not (200, _))
        {
            return $"e2e skipped: no Docker engine answers on {socket}";
        }

        if (!File.Exists(Helm) || !File.Exists(Kubectl))
        {
            return "e2e skipped: helm/kubectl not in .tools/bin (run .ci/install.sh)";
        }

        var pull = Environment.GetEnvironmentVariable("E2E_PULL") == "1";
        foreach (var image in new[] { K3sImage, PostgresImage, MinioImage })
        {
            if (Get(socket, $"/images/{Uri.EscapeDataString(image)}/json") is (200, _))
            {
                continue;
            }

            if (!pull)
            {
                return $"e2e skipped: image {image} is not present locally (make e2e pulls it, or docker pull it)";
            }

            var (code, output) = Run("docker", ["pull", "-q", image], TimeSpan.FromMinutes(5));
            if (code != 0)
            {
                return $"e2e skipped: image {image} is not present locally and docker pull failed: {output.Trim().Split('\n')[^1]}";
            }
        }

        return null;
    }

    private static string? DockerSocket()
    {
        var host = Environment.GetEnvironmentVariable("DOCKER_HOST");
        if (host is { Length: > 0 })
        {
            return host.StartsWith("unix://", StringComparison.Ordinal) ? host["unix://".Length..] : null;
        }

        return File.Exists("/var/run/docker.sock") ? "/var/run/docker.sock" : null;
    }

    /// <summary>One GET to the Docker engine API over its unix socket, with a short deadline.</summary>
    private static (int Status, string Body)? Get(string socket, string path)
    {
        try
        {
            using var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct).ConfigureAwait(false);
                    return new NetworkStream(s, ownsSocket: true);
                },
            };
            using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(3) };
            using var response = http.GetAsync(new Uri("http://docker" + path)).GetAwaiter().GetResult();
            return ((int)response.StatusCode, response.Content.ReadAsStringAsync().GetAwaiter().GetResult());
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or TaskCanceledException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static (int Code, string Output) Run(string file, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string>? env = null, string? stdin = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null, WorkingDirectory = RepoRoot };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            start.Environment[k] = v;
        }

        using var process = Process.Start(start)!;
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{file} timed out after {timeout}");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Operator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Operator.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A fact that reports the one-line reason and skips when the environment cannot run it.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class E2EFactAttribute : FactAttribute
{
    public E2EFactAttribute()
    {
        Skip = E2EEnvironment.SkipReason;
        Timeout = (int)TimeSpan.FromMinutes(20).TotalMilliseconds;
    }
}
