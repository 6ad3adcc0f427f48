using System.Net;
using System.Text.Json.Nodes;
using BulkExport.FakeKubeApi;
using BulkExport.Operator.Kubernetes;

namespace BulkExport.Operator.Tests.FakeKubeApi;

/// <summary>The semantics the fake API server promises, checked through the operator's own client.</summary>
public sealed class FakeKubeApiServerTests : IAsyncLifetime
{
    private FakeKubeApiServer _server = null!;
    private KubeApiClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeKubeApiServer.StartAsync(new FakeKubeApiOptions { BookmarkInterval = TimeSpan.FromMilliseconds(100) });
        _client = KubeApiClient.ForServer(_server.Url);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    private static JsonObject ConfigMap(string name, string? label = null) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "ConfigMap",
        ["metadata"] = new JsonObject
        {
            ["name"] = name,
            ["labels"] = new JsonObject { ["app"] = label ?? "x" },
        },
        ["data"] = new JsonObject { ["k"] = "v" },
    };

    [Fact]
    public async Task Every_write_gets_a_new_higher_resource_version_and_a_no_op_update_keeps_it()
    {
        var a = await _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("a"), default);
        var b = await _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("b"), default);
        Assert.True(long.Parse(b.ResourceVersion()!) > long.Parse(a.ResourceVersion()!));
        Assert.NotNull(a.Uid());

        var same = await _client.UpdateAsync(ResourceType.ConfigMaps, a, default);
        Assert.Equal(a.ResourceVersion(), same.ResourceVersion());

        a["data"]!["k"] = "changed";
        var changed = await _client.UpdateAsync(ResourceType.ConfigMaps, a, default);
        Assert.True(long.Parse(changed.ResourceVersion()!) > long.Parse(b.ResourceVersion()!));
    }

    [Fact]
    public async Task An_update_with_a_stale_resource_version_gets_409_conflict_and_a_duplicate_create_409_already_exists()
    {
        var a = await _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("a"), default);
        var stale = (JsonObject)a.DeepClone();
        a["data"]!["k"] = "first";
        await _client.UpdateAsync(ResourceType.ConfigMaps, a, default);

        stale["data"]!["k"] = "second";
        var conflict = await Assert.ThrowsAsync<KubeApiException>(() => _client.UpdateAsync(ResourceType.ConfigMaps, stale, default));
        Assert.True(conflict.IsConflict);
        var exists = await Assert.ThrowsAsync<KubeApiException>(() => _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("a"), default));
        Assert.True(exists.IsAlreadyExists);
    }

    [Fact]
    public async Task Missing_objects_are_404_and_get_returns_null()
    {
        Assert.Null(await _client.GetAsync(ResourceType.ConfigMaps, "ns", "nope", default));
        Assert.False(await _client.DeleteAsync(ResourceType.ConfigMaps, "ns", "nope", default));
        var e = await Assert.ThrowsAsync<KubeApiException>(() => _client.UpdateAsync(ResourceType.ConfigMaps, new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "nope", ["namespace"] = "ns", ["resourceVersion"] = "1" },
        }, default));
        Assert.Equal(HttpStatusCode.NotFound, e.StatusCode);
    }

    [Fact]
    public async Task Lists_filter_by_label_selector_and_namespace()
    {
        await _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("a", "one"), default);
        await _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("b", "two"), default);
        await _client.CreateAsync(ResourceType.ConfigMaps, "other", ConfigMap("c", "one"), default);

        Assert.Equal(["a"], (await _client.ListAsync(ResourceType.ConfigMaps, "ns", "app=one", default)).Items.Select(i => i.Name()));
        Assert.Equal(["a", "c"], (await _client.ListAsync(ResourceType.ConfigMaps, null, "app in (one)", default)).Items.Select(i => i.Name()).Order());
        Assert.Equal(["b"], (await _client.ListAsync(ResourceType.ConfigMaps, "ns", "app!=one", default)).Items.Select(i => i.Name()));
        Assert.Empty((await _client.ListAsync(ResourceType.ConfigMaps, "ns", "!app", default)).Items);
        Assert.Equal("ConfigMap", (string?)(await _client.ListAsync(ResourceType.ConfigMaps, "ns", null, default)).Items[0]["kind"]);
    }

    [Fact]
    public async Task The_status_subresource_changes_only_status_and_the_main_resource_only_spec_and_spec_changes_bump_generation()
    {
        var created = await _client.CreateAsync(ResourceType.ExportSchedules, "ns", new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "s" },
            ["spec"] = new JsonObject { ["register"] = "DAR" },
        }, default);
        Assert.Equal(1, created.Generation());

        created["status"] = new JsonObject { ["observedGeneration"] = 1 };
        created["spec"]!["register"] = "IGNORED";
        var afterStatus = await _client.UpdateStatusAsync(ResourceType.ExportSchedules, created, default);
        Assert.Equal("DAR", (string?)afterStatus["spec"]!["register"]);
        Assert.Equal(1, (int)afterStatus["status"]!["observedGeneration"]!);
        Assert.Equal(1, afterStatus.Generation());

        afterStatus["spec"]!["register"] = "BBR";
        afterStatus["status"] = new JsonObject { ["observedGeneration"] = 99 };
        var afterSpec = await _client.UpdateAsync(ResourceType.ExportSchedules, afterStatus, default);
        Assert.Equal(2, afterSpec.Generation());
        Assert.Equal(1, (int)afterSpec["status"]!["observedGeneration"]!);

        var patched = await _client.PatchAsync(ResourceType.ExportSchedules, "ns", "s", new JsonObject { ["status"] = new JsonObject { ["lastGeneration"] = 7 } }, default, status: true);
        Assert.Equal(7, (int)patched["status"]!["lastGeneration"]!);
        Assert.Equal(1, (int)patched["status"]!["observedGeneration"]!);
    }

    [Fact]
    public async Task A_status_merge_patch_ignores_the_rest_deletes_with_null_and_checks_its_resource_version()
    {
        var created = await _client.CreateAsync(ResourceType.ExportSchedules, "ns", new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "s" },
            ["spec"] = new JsonObject { ["register"] = "DAR" },
        }, default);
        var first = await _client.PatchAsync(ResourceType.ExportSchedules, "ns", "s", new JsonObject
        {
            ["spec"] = new JsonObject { ["register"] = "IGNORED" },
            ["status"] = new JsonObject { ["observedGeneration"] = 1, ["lastFailure"] = new JsonObject { ["job"] = "j1", ["message"] = "m" } },
        }, default, status: true);
        Assert.Equal("DAR", (string?)first["spec"]!["register"]);

        var second = await _client.PatchAsync(ResourceType.ExportSchedules, "ns", "s", new JsonObject
        {
            ["metadata"] = new JsonObject { ["resourceVersion"] = first.ResourceVersion() },
            ["status"] = new JsonObject { ["lastFailure"] = new JsonObject { ["message"] = null }, ["lastGeneration"] = 3 },
        }, default, status: true);
        Assert.Equal("""{"observedGeneration":1,"lastFailure":{"job":"j1"},"lastGeneration":3}""", second["status"]!.ToJsonString());

        var stale = await Assert.ThrowsAsync<KubeApiException>(() => _client.PatchAsync(ResourceType.ExportSchedules, "ns", "s", new JsonObject
        {
            ["metadata"] = new JsonObject { ["resourceVersion"] = created.ResourceVersion() },
            ["status"] = new JsonObject { ["lastGeneration"] = 4 },
        }, default, status: true));
        Assert.True(stale.IsConflict);
    }

    [Fact]
    public async Task Cron_jobs_jobs_and_pods_get_server_side_defaults()
    {
        var cronJob = await _client.CreateAsync(ResourceType.CronJobs, "ns", new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "c" },
            ["spec"] = new JsonObject
            {
                ["schedule"] = "* * * * *",
                ["jobTemplate"] = new JsonObject { ["spec"] = new JsonObject { ["template"] = new JsonObject { ["spec"] = new JsonObject { ["restartPolicy"] = "Never", ["containers"] = new JsonArray { new JsonObject { ["name"] = "x", ["image"] = "x:1" } } } } } },
            },
        }, default);
        Assert.Equal("Allow", (string?)cronJob["spec"]!["concurrencyPolicy"]);
        Assert.Equal(3, (int)cronJob["spec"]!["successfulJobsHistoryLimit"]!);
        var container = cronJob["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!["containers"]![0]!;
        Assert.Equal("File", (string?)container["terminationMessagePolicy"]);
        Assert.Equal("IfNotPresent", (string?)container["imagePullPolicy"]);

        var job = await _client.CreateAsync(ResourceType.Jobs, "ns", new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "j" },
            ["spec"] = new JsonObject { ["template"] = new JsonObject { ["spec"] = new JsonObject { ["restartPolicy"] = "Never", ["containers"] = new JsonArray { new JsonObject { ["name"] = "x", ["image"] = "x:1" } } } } },
        }, default);
        Assert.Equal(6, (int)job["spec"]!["backoffLimit"]!);
        var pod = await _client.CreateAsync(ResourceType.Pods, "ns", new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "p" },
            ["spec"] = new JsonObject { ["containers"] = new JsonArray() },
        }, default);
        Assert.Equal("ClusterFirst", (string?)pod["spec"]!["dnsPolicy"]);
        Assert.Equal("Pending", (string?)pod["status"]!["phase"]);
    }

    [Fact]
    public async Task A_job_template_that_would_restart_always_is_422_invalid_with_the_field_named()
    {
        var e = await Assert.ThrowsAsync<KubeApiException>(() => _client.CreateAsync(ResourceType.CronJobs, "ns", new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "c" },
            ["spec"] = new JsonObject
            {
                ["schedule"] = "* * * * *",
                ["jobTemplate"] = new JsonObject { ["spec"] = new JsonObject { ["template"] = new JsonObject { ["spec"] = new JsonObject { ["containers"] = new JsonArray { new JsonObject { ["name"] = "x", ["image"] = "x:1" } } } } } },
            },
        }, default));

        Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, e.StatusCode);
        Assert.Equal("Invalid", e.Reason);
        Assert.Contains("CronJob.batch \"c\" is invalid: spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: \"Always\"", e.ApiMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_an_owner_cascades_to_its_dependents_and_theirs()
    {
        var owner = await _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("owner"), default);
        var child = ConfigMap("child");
        child.Metadata()["ownerReferences"] = new JsonArray { new JsonObject { ["apiVersion"] = "v1", ["kind"] = "ConfigMap", ["name"] = "owner", ["uid"] = owner.Uid(), ["controller"] = true } };
        var created = await _client.CreateAsync(ResourceType.ConfigMaps, "ns", child, default);
        var grandchild = ConfigMap("grandchild");
        grandchild.Metadata()["ownerReferences"] = new JsonArray { new JsonObject { ["apiVersion"] = "v1", ["kind"] = "ConfigMap", ["name"] = "child", ["uid"] = created.Uid() } };
        await _client.CreateAsync(ResourceType.ConfigMaps, "ns", grandchild, default);
        await _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("bystander"), default);

        await _client.DeleteAsync(ResourceType.ConfigMaps, "ns", "owner", default);

        Assert.Equal(["bystander"], (await _client.ListAsync(ResourceType.ConfigMaps, "ns", null, default)).Items.Select(i => i.Name()));
    }

    [Fact]
    public async Task A_watch_frames_events_as_lines_and_resumes_from_a_resource_version()
    {
        var a = await _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("a"), default);
        a["data"]!["k"] = "v2";
        await _client.UpdateAsync(ResourceType.ConfigMaps, a, default);
        await _client.DeleteAsync(ResourceType.ConfigMaps, "ns", "a", default);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var events = new List<WatchEvent>();
        await foreach (var e in _client.WatchAsync(ResourceType.ConfigMaps, "ns", null, a.ResourceVersion(), TimeSpan.FromSeconds(1), cts.Token))
        {
            events.Add(e);
            if (e.Type == WatchEventType.Deleted)
            {
                break;
            }
        }

        Assert.Equal([WatchEventType.Modified, WatchEventType.Deleted], events.Select(e => e.Type));
        Assert.Equal("v2", (string?)events[0].Object["data"]!["k"]);
    }

    [Fact]
    public async Task A_watch_with_a_label_selector_sees_objects_leave_and_enter_the_selection()
    {
        var start = _server.CurrentResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var a = await _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("a", "one"), default);
        a.Metadata()["labels"]!["app"] = "two";
        a = await _client.UpdateAsync(ResourceType.ConfigMaps, a, default);
        a.Metadata()["labels"]!["app"] = "one";
        await _client.UpdateAsync(ResourceType.ConfigMaps, a, default);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var events = new List<WatchEventType>();
        await foreach (var e in _client.WatchAsync(ResourceType.ConfigMaps, "ns", "app=one", start, TimeSpan.FromSeconds(1), cts.Token))
        {
            events.Add(e.Type);
            if (events.Count == 3)
            {
                break;
            }
        }

        Assert.Equal([WatchEventType.Added, WatchEventType.Deleted, WatchEventType.Added], events);
    }

    [Fact]
    public async Task An_idle_watch_gets_bookmarks_carrying_the_current_resource_version()
    {
        await _client.CreateAsync(ResourceType.Secrets, "ns", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "unrelated" } }, default);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await foreach (var e in _client.WatchAsync(ResourceType.ConfigMaps, "ns", null, _server.CurrentResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), TimeSpan.FromSeconds(5), cts.Token))
        {
            Assert.Equal(WatchEventType.Bookmark, e.Type);
            Assert.Equal(_server.CurrentResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Object.ResourceVersion());
            return;
        }

        Assert.Fail("no bookmark");
    }

    [Fact]
    public async Task A_watch_from_a_compacted_resource_version_gets_410_gone()
    {
        var a = await _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("a"), default);
        _server.Compact();

        var e = await Assert.ThrowsAsync<KubeApiException>(async () =>
        {
            await foreach (var _ in _client.WatchAsync(ResourceType.ConfigMaps, "ns", null, a.ResourceVersion(), TimeSpan.FromSeconds(5), default))
            {
            }
        });
        Assert.True(e.IsGone);
        Assert.Equal(HttpStatusCode.Gone, e.StatusCode);
    }

    [Fact]
    public async Task Injected_conflicts_and_failures_answer_409_and_503()
    {
        var a = await _client.CreateAsync(ResourceType.ConfigMaps, "ns", ConfigMap("a"), default);
        _server.InjectConflicts("configmaps", 1);
        a["data"]!["k"] = "new";
        Assert.True((await Assert.ThrowsAsync<KubeApiException>(() => _client.UpdateAsync(ResourceType.ConfigMaps, a, default))).IsConflict);

        _server.FailNextRequests(1);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await Assert.ThrowsAsync<KubeApiException>(() => _client.GetAsync(ResourceType.ConfigMaps, "ns", "a", default))).StatusCode);
        Assert.NotNull(await _client.GetAsync(ResourceType.ConfigMaps, "ns", "a", default));
    }
}
