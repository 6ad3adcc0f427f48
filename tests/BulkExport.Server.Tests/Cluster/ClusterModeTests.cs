using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using BulkExport.Api;
using BulkExport.FakeKubeApi;
using BulkExport.Publishing.Stores;
using BulkExport.Server.Tests.Support;

namespace BulkExport.Server.Tests.Cluster;

/// <summary>
/// Cluster mode against the in-process fake Kubernetes API: the registers of the ExportSchedules in
/// the given namespaces are served, and follow creations and deletions as the watch delivers them
/// (no refresh needed), across an expired watch (410 Gone, re-list) and a failing API server.
/// </summary>
public sealed class ClusterModeTests : IAsyncLifetime
{
    private readonly TempDirectory _root = new();
    private FakeKubeApiServer _kube = null!;
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _kube = await FakeKubeApiServer.StartAsync();
        foreach (var register in new[] { "DAR", "BBR", "MAT", "EBR" })
        {
            await PublishedLayout.SampleAsync(new LocalObjectStore(Dir(register)), register);
        }

        Create("registers", "dar", "DAR");
        Create("registers", "bbr", "BBR");
        Create("elsewhere", "mat", "MAT");
        _server = await TestServer.StartAsync([], namespaces: ["registers"], kubeApi: _kube.Url);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _kube.DisposeAsync();
        _root.Dispose();
    }

    private string Dir(string register) => Path.Combine(_root.Path, register);

    private void Create(string ns, string name, string register, Action<JsonObject>? change = null)
    {
        var schedule = ScheduleDocument.ParseYaml(TestServer.LocalScheduleYaml(register, Dir(register)))[0]!.AsObject();
        schedule["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns };
        change?.Invoke(schedule);
        _kube.Create("exportschedules", schedule);
    }

    private async Task<List<string>> RegistersAsync()
    {
        var rows = JsonDocument.Parse(await _server.Client.GetStringAsync("/FileDownloads/GetAvailableFileDownloads")).RootElement.EnumerateArray();
        return [.. rows.Select(r => r.GetProperty("Register").GetString()!).Distinct().Order()];
    }

    [Fact]
    public async Task Serves_the_registers_of_the_schedules_in_the_given_namespaces_only()
    {
        Assert.Equal(["BBR", "DAR"], await RegistersAsync());
        Assert.Equal("ready", await _server.Client.GetStringAsync("/readyz"));
        using var other = await _server.Client.GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=MAT");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
    }

    [Fact]
    public async Task A_new_schedule_is_served_and_a_deleted_one_is_gone_as_the_watch_delivers_them()
    {
        Create("registers", "ebr", "EBR");
        _kube.Delete("exportschedules", "registers", "bbr");
        await EventuallyAsync(async () => (await RegistersAsync()).SequenceEqual(["DAR", "EBR"]), "EBR served and BBR gone");
        using var latest = await _server.Client.GetAsync("/registers/EBR/latest/Adresse/Current/CSV");
        Assert.Equal(HttpStatusCode.Found, latest.StatusCode);
        using var gone = await _server.Client.GetAsync("/registers/BBR/latest/Adresse/Current/CSV");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        // One list at start, then only the watch: no polling of the API server.
        Assert.Equal(1, _kube.Requests.GetValueOrDefault("GET exportschedules"));
    }

    [Fact]
    public async Task Invalid_and_duplicate_schedules_are_skipped_with_a_warning()
    {
        Create("registers", "broken", "EBR", s => s["spec"]!["total"]!["schedule"] = "every night");
        Create("registers", "zz-second-dar", "DAR");
        await EventuallyAsync(() => Task.FromResult(_server.Logs.Lines.Any(l => l.Contains("registers/zz-second-dar: register DAR is already served", StringComparison.Ordinal))), "the duplicate logged");
        Assert.Equal(["BBR", "DAR"], await RegistersAsync());
        var lines = _server.Logs.Lines.ToList();
        Assert.Contains(lines, l => l.Contains("registers/broken is not valid", StringComparison.Ordinal) && l.Contains("spec.total.schedule", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_expired_watch_is_followed_by_a_new_list_and_a_failing_one_keeps_the_registers_found_before()
    {
        // The server forgets its history and drops the watch: resuming gives 410, the re-list gets 503.
        _kube.Compact();
        _kube.FailNextRequests(1, HttpStatusCode.ServiceUnavailable);
        _kube.CloseWatches();
        await EventuallyAsync(() => Task.FromResult(_server.Logs.Lines.Any(l => l.Contains("could not be listed", StringComparison.Ordinal) && l.Contains("503", StringComparison.Ordinal))), "the failed list logged");
        Assert.Contains(_server.Logs.Lines, l => l.Contains("expired (410 Gone)", StringComparison.Ordinal));
        Assert.Equal(["BBR", "DAR"], await RegistersAsync());

        // The retry lists again and watches on: a schedule created now is served.
        Create("registers", "ebr", "EBR");
        await EventuallyAsync(async () => (await RegistersAsync()).Contains("EBR"), "EBR served after the re-list");
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }
}
