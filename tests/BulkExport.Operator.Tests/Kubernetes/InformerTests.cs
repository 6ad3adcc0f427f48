using System.Text.Json.Nodes;
using BulkExport.FakeKubeApi;
using BulkExport.Operator.Kubernetes;
using BulkExport.Operator.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace BulkExport.Operator.Tests.Kubernetes;

public sealed class InformerTests
{
    private static JsonObject ConfigMap(string name) => new()
    {
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "ns", ["labels"] = new JsonObject { ["app"] = "x" } },
        ["data"] = new JsonObject { ["k"] = "v" },
    };

    [Fact]
    public async Task A_closed_stream_is_resumed_from_the_last_resource_version_without_a_new_list()
    {
        await using var server = await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromMilliseconds(100) });
        using var client = KubeApiClient.ForServer(server.Url);
        server.Create("configmaps", ConfigMap("a"));
        var informer = new Informer(client, ResourceType.ConfigMaps, "ns", "app=x", NullLogger.Instance, TimeProvider.System, OperatorFixture.FastInformers);
        var seen = new List<(WatchEventType, string)>();
        informer.OnChange((t, o, _) =>
        {
            lock (seen)
            {
                seen.Add((t, o.Name()));
            }
        });
        using var cts = new CancellationTokenSource();
        var run = informer.RunAsync(cts.Token);
        await informer.Synced;

        for (var i = 0; i < 3; i++)
        {
            server.CloseWatches();
            server.Create("configmaps", ConfigMap($"b{i}"));
        }

        server.Delete("configmaps", "ns", "a");
        await OperatorFixture.Eventually(() => informer.Get("ns", "a") is null && informer.Items.Count() == 3, "cache follows the changes");
        await cts.CancelAsync();
        await run;

        Assert.Equal(1, server.Requests.GetValueOrDefault("GET configmaps"));
        Assert.Equal(0, informer.Relists);
        lock (seen)
        {
            Assert.Equal([(WatchEventType.Added, "a"), (WatchEventType.Added, "b0"), (WatchEventType.Added, "b1"), (WatchEventType.Added, "b2"), (WatchEventType.Deleted, "a")], seen);
        }
    }

    [Fact]
    public async Task Bookmarks_move_the_resume_point_forward_so_an_idle_watch_survives_compaction()
    {
        await using var server = await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromMilliseconds(100) });
        using var client = KubeApiClient.ForServer(server.Url);
        var informer = new Informer(client, ResourceType.ConfigMaps, "ns", null, NullLogger.Instance, TimeProvider.System, OperatorFixture.FastInformers);
        using var cts = new CancellationTokenSource();
        var run = informer.RunAsync(cts.Token);
        await informer.Synced;

        // Unrelated writes move the server's version; only a bookmark tells the idle watcher.
        for (var i = 0; i < 5; i++)
        {
            server.Create("secrets", new JsonObject { ["metadata"] = new JsonObject { ["name"] = $"s{i}", ["namespace"] = "ns" } });
        }

        var target = server.CurrentResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await OperatorFixture.Eventually(() => informer.ResourceVersion == target, "bookmark received");
        await cts.CancelAsync();
        await run;

        Assert.Equal(0, informer.Relists);
    }

    [Fact]
    public async Task A_failing_api_server_is_retried_with_backoff_until_it_answers()
    {
        await using var server = await FakeKubeApiServer.StartAsync();
        using var client = KubeApiClient.ForServer(server.Url);
        server.Create("configmaps", ConfigMap("a"));
        server.FailNextRequests(3);
        var informer = new Informer(client, ResourceType.ConfigMaps, "ns", null, NullLogger.Instance, TimeProvider.System, OperatorFixture.FastInformers);
        using var cts = new CancellationTokenSource();
        var run = informer.RunAsync(cts.Token);

        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));
        await cts.CancelAsync();
        await run;

        Assert.Equal(3, informer.Reconnects);
        Assert.NotNull(informer.Get("ns", "a"));
    }
}
