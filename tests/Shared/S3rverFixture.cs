using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;

namespace BulkExport.Tests.Shared;

/// <summary>
/// s3rver 3.7.1 (installed by .ci/install.sh into .tools/) on 127.0.0.1 and a free port, with one bucket,
/// its data in a temp directory removed at the end. s3rver checks signatures against its fixed S3RVER key.
/// Compiled into every test project that needs it (tests/Shared).
/// </summary>
public sealed class S3rverFixture : IAsyncLifetime
{
    public const string Bucket = "exports";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "bulkexport-s3rver-" + Guid.NewGuid().ToString("N")[..12]);
    private Process? _process;

    public int Port { get; private set; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    public static AWSCredentials Credentials { get; } = new BasicAWSCredentials("S3RVER", "S3RVER");

    public async Task InitializeAsync()
    {
        var script = FindScript();
        Directory.CreateDirectory(_root);
        Port = FreePort();
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { script, "-d", _root, "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--silent", "--configure-bucket", Bucket })
        {
            start.ArgumentList.Add(arg);
        }

        // s3rver 3.7 hashes with algorithms newer OpenSSL only offers through the legacy provider.
        start.Environment["NODE_OPTIONS"] = "--openssl-legacy-provider";
        _process = Process.Start(start) ?? throw new InvalidOperationException("cannot start node");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"s3rver exited with {_process.ExitCode}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", Port);
                break;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }

        // The bucket is configured just after the port opens.
        await Task.Delay(300);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }

    private static string FindScript()
    {
        var configured = Environment.GetEnvironmentVariable("BULKEXPORT_S3RVER");
        if (!string.IsNullOrEmpty(configured))
        {
            return configured;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, ".tools", "node_modules", "s3rver", "bin", "s3rver.js");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("s3rver not found under .tools/; run .ci/install.sh or set BULKEXPORT_S3RVER");
    }
}

[CollectionDefinition(Name)]
public sealed class S3rverCollection : ICollectionFixture<S3rverFixture>
{
    public const string Name = "s3rver";
}
