using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace BulkExport.Exporter.Tests.Fixtures;

/// <summary>
/// A throwaway PostgreSQL 15 cluster: initdb in a temp directory, started with pg_ctl on a free port on
/// 127.0.0.1 with password authentication, removed at the end. Its default collation is ICU en-US, so a
/// test proves the source asks for C order rather than inheriting it. Binaries come from
/// <c>BULKEXPORT_PG_BIN</c> or <c>/usr/lib/postgresql/15/bin</c> (.ci/install.sh installs them).
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public const string Database = "bulkexport";
    public const string User = "postgres";

    private readonly string _bin = Environment.GetEnvironmentVariable("BULKEXPORT_PG_BIN") ?? "/usr/lib/postgresql/15/bin";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "bulkexport-pg-" + Guid.NewGuid().ToString("N")[..12]);
    private bool _started;

    /// <summary>Long and distinctive, so a test can search every message for it.</summary>
    public string Password { get; } = "pw-" + Guid.NewGuid().ToString("N");

    public int Port { get; private set; }

    public bool PostgisAvailable { get; private set; }

    public string ConnectionString => ConnectionStringFor(Database);

    public string ConnectionStringFor(string database, string user = User, string? password = null) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Database = database,
            Username = user,
            Password = password ?? Password,
            Pooling = false,
        }.ConnectionString;

    private string DataDir => Path.Combine(_root, "data");

    public async Task InitializeAsync()
    {
        if (!File.Exists(Path.Combine(_bin, "initdb")))
        {
            throw new InvalidOperationException($"PostgreSQL binaries not found in {_bin}; run .ci/install.sh or set BULKEXPORT_PG_BIN");
        }

        Directory.CreateDirectory(_root);
        var pwFile = Path.Combine(_root, "pwfile");
        await File.WriteAllTextAsync(pwFile, Password + "\n");
        if (Environment.UserName == "root")
        {
            // initdb refuses to run as root; the cluster belongs to the postgres user the apt package creates.
            await RunAsync("chown", ["-R", "postgres:postgres", _root]);
        }

        await RunAsPostgresAsync(Path.Combine(_bin, "initdb"),
            ["-D", DataDir, "-U", User, "--pwfile", pwFile, "--auth-local=trust", "--auth-host=scram-sha-256",
             "--encoding=UTF8", "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US", "--no-sync"]);

        Port = FreePort();
        await RunAsPostgresAsync(Path.Combine(_bin, "pg_ctl"),
            ["-D", DataDir, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60",
             "-o", $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50 -c max_prepared_transactions=4", "start"]);
        _started = true;

        await using (var admin = new NpgsqlConnection(ConnectionStringFor("postgres")))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {Database}", admin);
            await create.ExecuteNonQueryAsync();
        }

        try
        {
            await ExecuteAsync("CREATE EXTENSION IF NOT EXISTS postgis");
            PostgisAvailable = true;
        }
        catch (PostgresException)
        {
            PostgisAvailable = false;
        }
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        await command.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync()
    {
        if (_started)
        {
            try
            {
                await RunAsPostgresAsync(Path.Combine(_bin, "pg_ctl"), ["-D", DataDir, "-m", "immediate", "-w", "stop"]);
            }
            catch (InvalidOperationException)
            {
                // Already gone; the directory is removed below either way.
            }
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private Task RunAsPostgresAsync(string file, IReadOnlyList<string> args) =>
        Environment.UserName == "root"
            ? RunAsync("runuser", ["-u", "postgres", "--", file, .. args])
            : RunAsync(file, args);

    private static async Task RunAsync(string file, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}{await stdout}");
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}
