using System.Globalization;
using System.Text.Json.Nodes;
using BulkExport.FakeKubeApi;
using BulkExport.Operator.Kubernetes;
using BulkExport.Operator.Reconciling;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace BulkExport.Operator.Tests.Reconciling;

public sealed class EventRecorderTests
{
    private const string Ns = "ns";
    private static readonly DateTimeOffset Start = new(2026, 12, 3, 8, 0, 0, TimeSpan.Zero);

    private static JsonObject Schedule() => new()
    {
        ["apiVersion"] = "bulkexport.io/v1alpha1",
        ["kind"] = "ExportSchedule",
        ["metadata"] = new JsonObject { ["name"] = "dar", ["namespace"] = Ns, ["uid"] = "u-1", ["resourceVersion"] = "7" },
    };

    [Fact]
    public async Task Events_in_the_same_clock_tick_get_distinct_names_of_the_object_and_unix_nanoseconds_in_hex()
    {
        await using var server = await FakeKubeApiServer.StartAsync();
        using var client = KubeApiClient.ForServer(server.Url);
        var time = new FakeTimeProvider(Start);
        var recorder = new EventRecorder(client, time, "op-0", NullLogger.Instance);

        await recorder.WarningAsync(Schedule(), "RunFailed", "Job dar-total-1 failed", CancellationToken.None);
        await recorder.NormalAsync(Schedule(), "Recovered", "Ready again", CancellationToken.None);

        var names = server.List("events", Ns).Select(e => e.Name()).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(2, names.Count);
        var nanos = names.Select(n => long.Parse(n[(n.LastIndexOf('.') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToList();
        Assert.All(names, n => Assert.StartsWith("dar.", n, StringComparison.Ordinal));
        Assert.Equal((Start - DateTimeOffset.UnixEpoch).Ticks * 100, nanos.Min());
        Assert.Equal(2, nanos.Distinct().Count());
    }

    [Fact]
    public async Task An_identical_event_again_raises_the_count_and_last_timestamp_of_the_first()
    {
        await using var server = await FakeKubeApiServer.StartAsync();
        using var client = KubeApiClient.ForServer(server.Url);
        var time = new FakeTimeProvider(Start);
        var recorder = new EventRecorder(client, time, "op-0", NullLogger.Instance);

        await recorder.WarningAsync(Schedule(), "SecretNotFound", "Secret ns/pg does not exist", CancellationToken.None);
        time.Advance(TimeSpan.FromMinutes(5));
        await recorder.WarningAsync(Schedule(), "SecretNotFound", "Secret ns/pg does not exist", CancellationToken.None);
        await recorder.WarningAsync(Schedule(), "SecretNotFound", "Secret ns/pg2 does not exist", CancellationToken.None);

        var events = server.List("events", Ns);
        Assert.Equal(2, events.Count);
        var repeated = Assert.Single(events, e => ((string?)e["message"])!.Contains("ns/pg ", StringComparison.Ordinal));
        Assert.Equal(2, (int)repeated["count"]!);
        Assert.Equal("2026-12-03T08:00:00Z", (string?)repeated["firstTimestamp"]);
        Assert.Equal("2026-12-03T08:05:00Z", (string?)repeated["lastTimestamp"]);
    }

    [Fact]
    public async Task A_repeated_event_whose_first_expired_is_recorded_anew()
    {
        await using var server = await FakeKubeApiServer.StartAsync();
        using var client = KubeApiClient.ForServer(server.Url);
        var recorder = new EventRecorder(client, new FakeTimeProvider(Start), "op-0", NullLogger.Instance);

        await recorder.WarningAsync(Schedule(), "SecretNotFound", "gone", CancellationToken.None);
        server.Delete("events", Ns, server.List("events", Ns)[0].Name());
        await recorder.WarningAsync(Schedule(), "SecretNotFound", "gone", CancellationToken.None);

        Assert.Equal(1, (int)Assert.Single(server.List("events", Ns))["count"]!);
    }

    [Fact]
    public async Task A_failed_event_write_is_logged_with_its_event_id_and_does_not_fail_the_caller()
    {
        await using var server = await FakeKubeApiServer.StartAsync();
        using var client = KubeApiClient.ForServer(server.Url);
        server.Forbid("POST events");
        var logger = new CapturingLogger();
        var recorder = new EventRecorder(client, new FakeTimeProvider(Start), "op-0", logger);

        await recorder.WarningAsync(Schedule(), "RunFailed", "Job dar-total-1 failed", CancellationToken.None);

        var entry = Assert.Single(logger.Entries);
        Assert.Equal(4290, entry.Id.Id);
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Contains("RunFailed", entry.Message, StringComparison.Ordinal);
        Assert.Contains("ns/dar", entry.Message, StringComparison.Ordinal);
    }

    private sealed class CapturingLogger : ILogger
    {
        public List<(EventId Id, LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((eventId, logLevel, formatter(state, exception)));
    }
}
