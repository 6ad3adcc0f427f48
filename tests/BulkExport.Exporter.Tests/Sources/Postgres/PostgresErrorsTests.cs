using System.Net.Sockets;
using BulkExport.Api;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BulkExport.Exporter.Tests.Sources.Postgres;

public sealed class PostgresErrorsTests
{
    [Theory]
    [InlineData("40001", true)]   // serialization_failure
    [InlineData("40P01", true)]   // deadlock_detected
    [InlineData("57P01", true)]   // admin_shutdown
    [InlineData("57P03", true)]   // cannot_connect_now
    [InlineData("53300", true)]   // too_many_connections
    [InlineData("08006", true)]   // connection_failure
    [InlineData("57014", true)]   // query_canceled (statement_timeout)
    [InlineData("42P01", false)]  // undefined_table
    [InlineData("42501", false)]  // insufficient_privilege
    [InlineData("42703", false)]  // undefined_column
    [InlineData("28P01", false)]  // invalid_password
    public void SqlStates_AreClassified(string sqlState, bool transient)
    {
        var errors = new PostgresErrors("db:5432/x", "hunter2-secret");
        var ex = errors.Classify(new PostgresException("boom", "ERROR", "ERROR", sqlState), "Adresse", "reading rows");
        Assert.Equal(transient, ex.Transient);
        Assert.Contains("entity 'Adresse'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(sqlState, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConnectionFailures_AreTransient_AndThePasswordIsScrubbed()
    {
        var errors = new PostgresErrors("db:5432/x", "hunter2-secret");
        Assert.True(errors.Classify(new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused)), null, "opening").Transient);
        Assert.True(errors.Classify(new TimeoutException("timed out"), "A", "reading rows").Transient);
        var scrubbed = errors.Classify(new NpgsqlException("password hunter2-secret rejected"), "A", "opening");
        Assert.DoesNotContain("hunter2-secret", scrubbed.Message, StringComparison.Ordinal);
    }
}

/// <summary>Every log line of a run, failing and succeeding, is free of the password.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresLoggingTests(PostgresFixture pg)
{
    [Fact]
    public async Task Logs_NeverContainThePassword()
    {
        var logger = new CapturingLogger();
        var ok = new EntitySpec { Name = "Ok", Query = "SELECT 1 AS one", Key = ["one"] };
        var missing = new EntitySpec { Name = "Missing", Table = "no_such_table_for_logs" };
        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 2 }, [ok, missing], pg.ConnectionString, logger);
        await using (var snapshot = await source.OpenSnapshotAsync(CancellationToken.None))
        {
            await using (var reader = await snapshot.ReadAsync(ok, new ReadRequest(true), CancellationToken.None))
            {
                while (await reader.ReadAsync(CancellationToken.None))
                {
                }
            }

            await Assert.ThrowsAsync<SourceException>(async () => await snapshot.ReadAsync(missing, new ReadRequest(false), CancellationToken.None));
        }

        var wrongPort = new NpgsqlConnectionStringBuilder(pg.ConnectionString) { Port = PostgresFixture.FreePort(), Timeout = 2 }.ConnectionString;
        await Assert.ThrowsAsync<SourceException>(async () =>
            await new PostgresSource(new PostgresSourceSpec(), [ok], wrongPort, logger).OpenSnapshotAsync(CancellationToken.None));

        Assert.NotEmpty(logger.Lines);
        Assert.All(logger.Lines, line => Assert.DoesNotContain(pg.Password, line, StringComparison.Ordinal));
    }

    private sealed class CapturingLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
            {
                Lines.Add(formatter(state, exception) + " " + exception);
            }
        }
    }
}
