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
    /// <summary>An informer on configmaps in "ns" that records, for each change its handlers see, the cached version of that object.</summary>
    private static (Informer Informer, List<(WatchEventType Type, string Name, string? Uid, string? CachedVersion)> Seen) Recording(KubeApiClient client)
    {
        var informer = new Informer(client, ResourceType.ConfigMaps, "ns", null, NullLogger.Instance, TimeProvider.System, OperatorFixture.FastInformers);
        var seen = new List<(WatchEventType, string, string?, string?)>();
        informer.OnChange((t, o, _) =>
        {
            var cached = informer.Get("ns", o.Name());
            lock (seen)
            {
                seen.Add((t, o.Name(), cached?.Uid(), cached?.ResourceVersion()));
            }
        });
        return (informer, seen);
    }

    private static async Task CaughtUp(FakeKubeApiServer server, Informer informer) =>
        await OperatorFixture.Eventually(() => informer.HasSynced && informer.ResourceVersion == server.CurrentResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), "informer caught up with the server");

    private static long Version(JsonObject obj) => long.Parse(obj.ResourceVersion()!, System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_watch_event_older_than_our_own_write_does_not_take_the_cache_back()
    {
        await using var server = await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromMilliseconds(100) });
        using var client = KubeApiClient.ForServer(server.Url);
        server.Create("configmaps", ConfigMap("a"));
        var (informer, seen) = Recording(client);
        using var cts = new CancellationTokenSource();
        var run = informer.RunAsync(cts.Token);
        await CaughtUp(server, informer);

        // Another writer changes the object, and we write on top of that version; the watch lags
        // behind both writes, so our write's answer is in the cache before the other's event.
        server.LagWatches();
        server.Mutate("configmaps", "ns", "a", o => o["data"]!["k"] = "theirs");
        var live = (await client.GetAsync(ResourceType.ConfigMaps, "ns", "a", cts.Token))!;
        live["data"]!["k"] = "ours";
        var ours = await client.UpdateAsync(ResourceType.ConfigMaps, live, cts.Token);
        informer.Observe(ours);
        Assert.Equal(ours.ResourceVersion(), informer.Get("ns", "a")?.ResourceVersion());
        lock (seen)
        {
            seen.Clear();
        }

        server.DeliverWatches();
        await CaughtUp(server, informer);
        await cts.CancelAsync();
        await run;

        Assert.Equal("ours", (string?)informer.Get("ns", "a")?["data"]?["k"]);
        lock (seen)
        {
            // Handlers only ever find our version (or a newer one) in the cache.
            Assert.NotEmpty(seen);
            Assert.All(seen, s => Assert.True(long.Parse(s.CachedVersion!, System.Globalization.CultureInfo.InvariantCulture) >= Version(ours), $"{s.Type} {s.Name}: cache went back to {s.CachedVersion}"));
        }
    }

    [Fact]
    public async Task A_deletion_arriving_after_our_re_create_under_the_same_name_keeps_the_new_object()
    {
        await using var server = await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromMilliseconds(100) });
        using var client = KubeApiClient.ForServer(server.Url);
        var first = server.Create("configmaps", ConfigMap("a"));
        var (informer, seen) = Recording(client);
        using var cts = new CancellationTokenSource();
        var run = informer.RunAsync(cts.Token);
        await CaughtUp(server, informer);

        server.LagWatches();
        server.Delete("configmaps", "ns", "a");
        var again = await client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("a"), cts.Token);
        informer.Observe(again);
        Assert.NotEqual(first.Uid(), again.Uid());
        lock (seen)
        {
            seen.Clear();
        }

        server.DeliverWatches();
        await CaughtUp(server, informer);
        await cts.CancelAsync();
        await run;

        Assert.Equal(again.Uid(), informer.Get("ns", "a")?.Uid());
        lock (seen)
        {
            Assert.NotEmpty(seen);
            Assert.All(seen, s => Assert.Equal(again.Uid(), s.Uid));
        }
    }

    [Fact]
    public async Task A_relist_whose_snapshot_is_older_than_our_own_writes_neither_reverts_nor_deletes_them()
    {
        await using var server = await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromMilliseconds(100) });
        using var client = KubeApiClient.ForServer(server.Url);
        server.Create("configmaps", ConfigMap("a"));
        var (informer, seen) = Recording(client);
        using var cts = new CancellationTokenSource();
        var run = informer.RunAsync(cts.Token);
        await CaughtUp(server, informer);

        // The watch expires; the re-list is served, and while its answer is on the wire we update
        // one object and create another.
        server.HoldAnswers("GET configmaps");
        server.Compact();
        server.CloseWatches();
        await OperatorFixture.Eventually(() => server.HeldAnswers == 1, "re-list served and held");
        var changed = informer.Get("ns", "a")!.DeepClone().AsObject();
        changed["data"]!["k"] = "ours";
        var updated = await client.UpdateAsync(ResourceType.ConfigMaps, changed, cts.Token);
        informer.Observe(updated);
        var created = await client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("b"), cts.Token);
        informer.Observe(created);
        lock (seen)
        {
            seen.Clear();
        }

        server.ReleaseAnswers();
        await CaughtUp(server, informer);
        await cts.CancelAsync();
        await run;

        Assert.True(informer.Relists >= 1);
        Assert.Equal("ours", (string?)informer.Get("ns", "a")?["data"]?["k"]);
        Assert.NotNull(informer.Get("ns", "b"));
        lock (seen)
        {
            Assert.DoesNotContain(seen, s => s.Type == WatchEventType.Deleted);
            Assert.All(seen.Where(s => s.Name == "a"), s => Assert.True(long.Parse(s.CachedVersion!, System.Globalization.CultureInfo.InvariantCulture) >= Version(updated), $"{s.Type} a: cache went back to {s.CachedVersion}"));
        }
    }

    [Fact]
    public async Task Our_write_observed_after_the_stream_already_brought_its_deletion_does_not_resurrect_it()
    {
        await using var server = await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromMilliseconds(100) });
        using var client = KubeApiClient.ForServer(server.Url);
        var (informer, _) = Recording(client);
        using var cts = new CancellationTokenSource();
        var run = informer.RunAsync(cts.Token);
        await CaughtUp(server, informer);

        // Our create's answer reaches the cache only after its ADDED and someone's DELETED did.
        var created = await client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("a"), cts.Token);
        server.Delete("configmaps", "ns", "a");
        await CaughtUp(server, informer);
        informer.Observe(created);
        await cts.CancelAsync();
        await run;

        Assert.Null(informer.Get("ns", "a"));
    }
}
