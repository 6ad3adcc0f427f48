using System.Text.RegularExpressions;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Networks;
using Testcontainers.K3s;
using Testcontainers.PostgreSql;

namespace BulkExport.E2E.Tests;

/// <summary>
/// The whole product on a real cluster: k3s (Testcontainers.K3s), the chart installed with the
/// operator and exporter images built here, the DAR example applied against PostgreSQL and MinIO
/// containers, one total and one delta run, then <c>kubectl get exports</c> and the bucket checked.
/// </summary>
public sealed class DarExportTests : IAsyncLifetime
{
    private const string Tag = "e2e";
    private const string MinioUser = "e2e";
    private const string MinioPassword = "e2e-secret-key";
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    private INetwork? _network;
    private PostgreSqlContainer? _postgres;
    private IContainer? _minio;
    private K3sContainer? _k3s;
    private string _work = "";

    public async Task InitializeAsync()
    {
        if (E2EEnvironment.SkipReason is not null)
        {
            return;
        }

        _work = Directory.CreateTempSubdirectory("bulkexport-e2e-").FullName;
        _network = new NetworkBuilder().WithName($"bulkexport-e2e-{Guid.NewGuid():N}"[..28]).Build();
        _postgres = new PostgreSqlBuilder(E2EEnvironment.PostgresImage).WithNetwork(_network)
            .WithDatabase("dar").WithUsername("postgres").WithPassword("e2e").Build();
        _minio = new ContainerBuilder(E2EEnvironment.MinioImage).WithNetwork(_network)
            .WithEnvironment("MINIO_ROOT_USER", MinioUser).WithEnvironment("MINIO_ROOT_PASSWORD", MinioPassword)
            .WithCommand("server", "/data")
            .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(r => r.ForPort(9000).ForPath("/minio/health/live")))
            .Build();
        _k3s = new K3sBuilder(E2EEnvironment.K3sImage).WithNetwork(_network).Build();
        await _network.CreateAsync();
        await Task.WhenAll(_postgres.StartAsync(), _minio.StartAsync(), _k3s.StartAsync());
    }

    public async Task DisposeAsync()
    {
        foreach (var container in new IAsyncDisposable?[] { _k3s, _minio, _postgres })
        {
            if (container is not null)
            {
                await container.DisposeAsync();
            }
        }

        if (_network is not null)
        {
            await _network.DisposeAsync();
        }

        if (_work.Length > 0)
        {
            Directory.Delete(_work, recursive: true);
        }
    }

    [E2EFact]
    public async Task The_DAR_example_exports_a_total_and_a_delta_to_the_bucket_and_kubectl_get_exports_shows_them()
    {
        var root = E2EEnvironment.RepoRoot;
        var seed = await _postgres!.ExecScriptAsync(await File.ReadAllTextAsync(Path.Combine(root, "e2e", "dar-seed.sql")));
        Assert.True(seed.ExitCode == 0, seed.Stderr);
        await Mc("alias", "set", "local", "http://127.0.0.1:9000", MinioUser, MinioPassword);
        await Mc("mb", "--ignore-existing", "local/exports");

        var kubeconfig = Path.Combine(_work, "kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, await _k3s!.GetKubeconfigAsync());
        var env = new Dictionary<string, string> { ["KUBECONFIG"] = kubeconfig };

        // The images are built here and imported into k3s' containerd: nothing is pulled for them.
        Ok("make", ["--no-print-directory", "image-local", $"TAG={Tag}"], TimeSpan.FromMinutes(15));
        Ok("bash", ["-c", $"docker save bulkexport/operator:{Tag} bulkexport/exporter:{Tag} | docker exec -i {_k3s.Id} ctr images import -"], Long);
        Ok(E2EEnvironment.Helm, ["install", "bulkexport-operator", Path.Combine(root, "charts", "bulkexport-operator"), "--namespace", "bulkexport", "--create-namespace",
            "--set", $"image.tag={Tag}", "--set", "image.pullPolicy=Never", "--set", $"exporterImage.tag={Tag}", "--wait", "--timeout", "3m"], Long, env);

        // Pods reach the containers by their IPs on the shared network (CoreDNS cannot see Docker's DNS).
        var pg = IpOn(_postgres);
        var minio = IpOn(_minio!);
        Kubectl(env, "create", "namespace", "exports");
        Kubectl(env, "-n", "exports", "create", "secret", "generic", "dar-db", $"--from-literal=connectionString=Host={pg};Port=5432;Database=dar;Username=postgres;Password=e2e");
        Kubectl(env, "-n", "exports", "create", "secret", "generic", "s3-creds", $"--from-literal=AWS_ACCESS_KEY_ID={MinioUser}", $"--from-literal=AWS_SECRET_ACCESS_KEY={MinioPassword}");
        var example = (await File.ReadAllTextAsync(Path.Combine(root, "examples", "kubernetes", "dar-postgres-minio.yaml"))).Replace("http://minio.data.svc:9000", $"http://{minio}:9000", StringComparison.Ordinal);
        Ok(E2EEnvironment.Kubectl, ["-n", "exports", "apply", "-f", "-"], Long, env, example);
        Kubectl(env, "-n", "exports", "wait", "--for=create", "cronjob/dar-total", "cronjob/dar-delta", "--timeout=120s");

        var total = RunJob(env, "total");
        var delta = RunJob(env, "delta");
        Assert.True(delta > total, $"the delta's generation {delta} follows the total's {total}");

        var exports = Kubectl(env, "-n", "exports", "get", "exports", "dar", "--no-headers");
        Assert.Matches($@"\b{delta}\b", exports);
        Assert.DoesNotContain("<invalid>", exports, StringComparison.Ordinal);
        var catalog = await Mc("cat", "local/exports/registers/DAR/catalog.json");
        Assert.Contains($"\"Generation\":{delta}", Regex.Replace(catalog, @"\s", ""), StringComparison.Ordinal);
    }

    /// <summary>Starts one run from the CronJob of <paramref name="type"/> as kubectl create job --from does; returns the generation status records.</summary>
    private static long RunJob(Dictionary<string, string> env, string type)
    {
        var job = $"dar-e2e-{type}";
        Kubectl(env, "-n", "exports", "create", "job", job, $"--from=cronjob/dar-{type}");
        var (code, output) = E2EEnvironment.Run(E2EEnvironment.Kubectl, ["-n", "exports", "wait", "--for=condition=complete", $"job/{job}", "--timeout=300s"], Long, env);
        Assert.True(code == 0, $"{type} Job did not complete: {output}\n{E2EEnvironment.Run(E2EEnvironment.Kubectl, ["-n", "exports", "logs", $"job/{job}", "--tail=50"], Long, env).Output}");
        var field = type == "total" ? "lastTotal" : "lastDelta";
        for (var i = 0; i < 60; i++)
        {
            var recorded = Kubectl(env, "-n", "exports", "get", "exportschedule", "dar", "-o", $"jsonpath={{.status.{field}.job}} {{.status.{field}.generation}}").Trim().Split(' ');
            if (recorded.Length == 2 && recorded[0] == job)
            {
                return long.Parse(recorded[1], System.Globalization.CultureInfo.InvariantCulture);
            }

            Thread.Sleep(2000);
        }

        Assert.Fail($"status.{field} never recorded Job {job}");
        return 0;
    }

    private async Task<string> Mc(params string[] args)
    {
        var result = await _minio!.ExecAsync(["mc", .. args]);
        Assert.True(result.ExitCode == 0, $"mc {string.Join(' ', args)}: {result.Stderr}{result.Stdout}");
        return result.Stdout;
    }

    private string IpOn(IContainer container) =>
        Ok("docker", ["inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{_network!.Name}\").IPAddress}}}}", container.Id], TimeSpan.FromSeconds(30)).Trim();

    private static string Kubectl(Dictionary<string, string> env, params string[] args) => Ok(E2EEnvironment.Kubectl, args, Long, env);

    private static string Ok(string file, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string>? env = null, string? stdin = null)
    {
        var list = args.ToList();
        var (code, output) = E2EEnvironment.Run(file, list, timeout, env, stdin);
        Assert.True(code == 0, $"{Path.GetFileName(file)} {string.Join(' ', list)} exited {code}: {output}");
        return output;
    }
}
