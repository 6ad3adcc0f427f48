using System.Diagnostics.Metrics;
using System.Net;
using BulkExport.Operator.Hosting;
using BulkExport.Operator.Kubernetes;
using BulkExport.Operator.Tests.Support;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace BulkExport.Operator.Tests.Hosting;

public sealed class HostTests
{
    [Fact]
    public async Task The_host_serves_healthz_and_readyz_once_the_caches_are_synced_and_reconciles()
    {
        await using var fx = await OperatorFixture.StartAsync();
        fx.CreateSchedule(TestSchedules.Files("dar"));
        await using var app = Program.BuildApp(new OperatorOptions { HealthPort = 0, ExporterImage = "exporter:test" }, new k8s.KubernetesClientConfiguration { Host = fx.Server.Url.ToString() });
        await app.StartAsync();
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().Replace("[::]", "127.0.0.1", StringComparison.Ordinal);
            using var http = new HttpClient { BaseAddress = new Uri(address) };

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
                    schedule = (string?)t.Value;
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
            Assert.Contains(measurements, m => m.Name == "bulkexport.schedule.last_generation" && m.Schedule == "registers/dar" && m.Value == 42);
            Assert.Contains(measurements, m => m.Name == "bulkexport.schedule.last_success_time" && m.Schedule == "registers/dar" && m.Value > 0);
        }
    }
}
