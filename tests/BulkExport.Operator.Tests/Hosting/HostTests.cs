using System.Diagnostics.Metrics;
using System.Net;
using BulkExport.Operator.Hosting;
using BulkExport.Operator.Kubernetes;
using BulkExport.Operator.Tests.Support;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace BulkExport.Operator.Tests.Hosting;

public sealed partial class HostTests
{
    /// <summary>The operator host as <c>operator run</c> builds it, on a free port, against the fake server.</summary>
    private static async Task<(Microsoft.AspNetCore.Builder.WebApplication App, HttpClient Http)> StartHostAsync(OperatorFixture fx)
    {
        var app = Program.BuildApp(new OperatorOptions { HealthPort = 0, ExporterImage = "exporter:test" }, new k8s.KubernetesClientConfiguration { Host = fx.Server.Url.ToString() });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().Replace("[::]", "127.0.0.1", StringComparison.Ordinal);
        return (app, new HttpClient { BaseAddress = new Uri(address) });
    }

    [Fact]
    public async Task The_host_serves_healthz_and_readyz_once_the_caches_are_synced_and_reconciles()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        var (app, http) = await StartHostAsync(fx);
        await using var disposeApp = app;
        using var disposeHttp = http;
        try
        {

            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
            await OperatorFixture.Eventually(() => http.GetAsync(new Uri("/readyz", UriKind.Relative)).Result.StatusCode == HttpStatusCode.OK, "readyz 200");
            await OperatorFixture.Eventually(() => fx.CronJob("dar-total") is not null, "reconciled by the host");
        }
        finally
        {
            await app.StopAsync();
        }
    }

    [Fact]
    public async Task Metrics_count_reconciles_and_report_queue_depth_and_per_schedule_generation()
    {
        var measurements = new List<(string Name, double Value, string? Schedule)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == OperatorMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Record(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? schedule = null;
            foreach (var t in tags)
            {
                if (t.Key == "schedule")
                {
                    schedule = $"registers/{t.Value}";
                }
            }

            lock (measurements)
            {
                measurements.Add((i.Name, v, schedule));
            }
        }

        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        listener.Start();

        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var op = await fx.StartOperator().StartedAsync();
        await OperatorFixture.Eventually(() => fx.CronJob("dar-delta") is not null, "CronJobs");
        fx.FinishJob("dar", "delta", "dar-delta-1", succeeded: true, TestSchedules.SummaryJson(42, "delta"));
        await OperatorFixture.Eventually(() => (long?)fx.Schedule("dar")!["status"]?["lastGeneration"] == 42, "recorded");
        await fx.Settle(op);
        listener.RecordObservableInstruments();

        lock (measurements)
        {
            Assert.Contains(measurements, m => m.Name == "bulkexport.operator.reconciles" && m.Value == 1);
            Assert.Contains(measurements, m => m.Name == "bulkexport.operator.queue.depth");
            Assert.Contains(measurements, m => m.Name == "bulkexport_last_generation" && m.Schedule == "registers/dar" && m.Value == 42);
            Assert.Contains(measurements, m => m.Name == "bulkexport_last_success_timestamp_seconds" && m.Schedule == "registers/dar" && m.Value > 0);
            Assert.Contains(measurements, m => m.Name == "bulkexport_run_successes_total" && m.Schedule == "registers/dar" && m.Value == 1);
            Assert.Contains(measurements, m => m.Name == "bulkexport_run_attempts_total" && m.Schedule == "registers/dar" && m.Value == 1);
        }
    }

    [Fact]
    public async Task Metrics_are_scraped_at_slash_metrics_with_the_run_series_zero_initialised_for_a_new_schedule()
    {
        // The run series are process-wide (every operator host in this test process publishes on the
        // same meter name), so this test's schedule has a name no other test uses.
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("metrics"));
        var (app, http) = await StartHostAsync(fx);
        await using var disposeApp = app;
        using var disposeHttp = http;
        try
        {
            await OperatorFixture.Eventually(() => fx.Schedule("metrics")?["status"] is not null, "reconciled");

            string text = "";
            await OperatorFixture.Eventually(() =>
            {
                text = http.GetStringAsync(new Uri("/metrics", UriKind.Relative)).Result;
                return text.Contains("schedule=\"metrics\"", StringComparison.Ordinal);
            }, "scrape shows the schedule", detail: () => text);

            foreach (var series in new[] { "bulkexport_run_attempts_total", "bulkexport_run_successes_total", "bulkexport_run_failures_total" })
            {
                Assert.Matches($@"(?m)^{series}\{{[^}}]*schedule=""metrics""[^}}]*type=""delta""[^}}]*\}} 0( |$)", text);
            }

            Assert.Matches(@"(?m)^bulkexport_last_generation\{[^}]*schedule=""metrics""[^}]*\} 0( |$)", text);
            Assert.Matches(@"(?m)^bulkexport_last_success_timestamp_seconds\{[^}]*schedule=""metrics""[^}]*\} 0( |$)", text);

            // After a run: counted once, and its duration lands in the histogram whose buckets reach 4 h.
            fx.FinishJob("metrics", "delta", "metrics-delta-1", succeeded: true, TestSchedules.SummaryJson(42, "delta"));
            await OperatorFixture.Eventually(() =>
            {
                text = http.GetStringAsync(new Uri("/metrics", UriKind.Relative)).Result;
                // Wait for this schedule's own series: other tests' runs land in the same scrape.
                return DurationBucket4h().IsMatch(text) && SuccessCountedOnce().IsMatch(text);
            }, "histogram and success after a run", detail: () => text);
            Assert.Matches(SuccessCountedOnce(), text);
            Assert.Matches(DurationBucket4h(), text);
        }
        finally
        {
            await app.StopAsync();
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"(?m)^bulkexport_run_successes_total\{[^}]*schedule=""metrics""[^}]*type=""delta""[^}]*\} 1( |$)")]
    private static partial System.Text.RegularExpressions.Regex SuccessCountedOnce();

    [System.Text.RegularExpressions.GeneratedRegex(@"(?m)^bulkexport_run_duration_seconds_bucket\{(?=[^}]*schedule=""metrics"")[^}]*le=""14400""[^}]*\} 1( |$)")]
    private static partial System.Text.RegularExpressions.Regex DurationBucket4h();
}
