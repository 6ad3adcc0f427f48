using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using BulkExport.Api;
using BulkExport.FakeKubeApi;
using BulkExport.Server.Tests.Support;
using BulkExport.Tests.Shared;

namespace BulkExport.Server.Tests.Cluster;

/// <summary>
/// Cluster mode with <c>--schedule-secrets</c>: each ExportSchedule on S3 is served with the
/// credentials of the Secret it names (s3rver), its read-only keys where it names them and else the
/// exporter's with a warning, a rotated Secret takes effect on the next refresh, and a schedule whose
/// Secret cannot be read is not served, with a warning naming both.
/// </summary>
[Collection(S3rverCollection.Name)]
public sealed class ClusterSecretsTests(S3rverFixture s3) : IAsyncLifetime
{
    private readonly string _prefix = "cluster-" + Guid.NewGuid().ToString("N")[..8] + "/";
    private FakeKubeApiServer _kube = null!;
    private TestServer _server = null!;
    private PublishedLayout _dar = null!;

    public async Task InitializeAsync()
    {
        _kube = await FakeKubeApiServer.StartAsync();
        _dar = await PublishedLayout.SampleAsync(TestServer.S3Store(s3, _prefix + "dar/"), "DAR");
        await PublishedLayout.SampleAsync(TestServer.S3Store(s3, _prefix + "bbr/"), "BBR");
        await PublishedLayout.SampleAsync(TestServer.S3Store(s3, _prefix + "mat/"), "MAT");
        Secret("s3-creds", "S3RVER", "S3RVER");
        // s3rver accepts only its own key: were the service to presign with the writing keys, the links would fail.
        Secret("s3-writer", "WRITER", "WRITER");
        Schedule("dar", "DAR", "s3-creds");
        Schedule("bbr", "BBR", "no-such-secret");
        Schedule("mat", "MAT", "s3-writer", readSecret: "s3-creds");
        _server = await TestServer.StartAsync([], namespaces: ["registers"], kubeApi: _kube.Url, scheduleSecrets: true);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _kube.DisposeAsync();
    }

    [Fact]
    public async Task A_schedule_is_served_with_the_credentials_of_its_secret_and_one_whose_secret_is_missing_is_not()
    {
        Assert.Equal(_dar.Bytes["DAR_V1_Adresse_TotalDownload_JSON_Current_3.zip"], await FetchPresignedWithS3rversKeyAsync("DAR_V1_Adresse_TotalDownload_JSON_Current_3.zip"));

        using var bbr = await _server.Client.GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=BBR");
        Assert.Equal(HttpStatusCode.NotFound, bbr.StatusCode);
        Assert.Contains(_server.Logs.Lines, l => l.Contains("registers/bbr", StringComparison.Ordinal) && l.Contains("registers/no-such-secret", StringComparison.Ordinal) && l.Contains("not served", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_schedule_naming_read_only_keys_is_served_with_them_and_one_without_is_served_with_the_writing_keys_and_a_warning()
    {
        Assert.NotEmpty(await FetchPresignedWithS3rversKeyAsync("MAT_V1_Adresse_TotalDownload_JSON_Current_3.zip"));

        static bool Warned(string line, string schedule) =>
            line.Contains($"ExportSchedule registers/{schedule} has no spec.storage.s3.readCredentialsSecretRef", StringComparison.Ordinal);
        Assert.Single(_server.Logs.Lines, l => Warned(l, "dar") && l.Contains("registers/s3-creds", StringComparison.Ordinal));
        await _server.RefreshAsync();
        Assert.Single(_server.Logs.Lines, l => Warned(l, "dar"));
        Assert.DoesNotContain(_server.Logs.Lines, l => Warned(l, "mat"));
    }

    [Fact]
    public async Task A_schedule_served_with_the_writing_keys_that_is_deleted_and_created_again_is_warned_about_again()
    {
        static bool Warned(string line) =>
            line.Contains("ExportSchedule registers/dar has no spec.storage.s3.readCredentialsSecretRef", StringComparison.Ordinal);
        Assert.Single(_server.Logs.Lines, Warned);

        // The warning is remembered per schedule only while the schedule exists.
        _kube.Delete("exportschedules", "registers", "dar");
        await EventuallyDarIsAsync(HttpStatusCode.NotFound, "DAR no longer served");
        Schedule("dar", "DAR", "s3-creds");
        await EventuallyAsync(async () =>
        {
            await _server.RefreshAsync();
            return _server.Logs.Lines.Count(Warned) >= 2;
        }, "the re-created schedule warned about again");
        await _server.RefreshAsync();
        Assert.True(_server.Logs.Lines.Count(Warned) == 2, string.Join("\n", _server.Logs.Lines));
    }

    [Fact]
    public async Task A_schedule_created_again_after_its_secret_was_deleted_is_not_served_with_the_keys_read_before()
    {
        // A Secret only dar names (s3-creds is also mat's), so that nothing else keeps its keys in use.
        Secret("dar-only", "S3RVER", "S3RVER");
        _kube.Delete("exportschedules", "registers", "dar");
        Schedule("dar", "DAR", "dar-only");
        await EventuallyDarIsAsync(HttpStatusCode.OK, "DAR served with the keys of dar-only");

        _kube.Delete("exportschedules", "registers", "dar");
        await EventuallyDarIsAsync(HttpStatusCode.NotFound, "DAR no longer served");
        _kube.Delete("secrets", "registers", "dar-only");
        Schedule("dar", "DAR", "dar-only");

        static bool NotServed(string line) =>
            line.Contains("registers/dar", StringComparison.Ordinal) && line.Contains("registers/dar-only", StringComparison.Ordinal) && line.Contains("not served", StringComparison.Ordinal);
        await EventuallyAsync(async () =>
        {
            await _server.RefreshAsync();
            return _server.Logs.Lines.Any(NotServed);
        }, "the re-created schedule refused for its unreadable Secret");
        using var refused = await _server.Client.GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=DAR");
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.DoesNotContain(_server.Logs.Lines, l => l.Contains("registers/dar-only", StringComparison.Ordinal) && l.Contains("read before", StringComparison.Ordinal));
    }

    // DAR's listing answers `status` after a refresh, within the deadline of EventuallyAsync.
    private Task EventuallyDarIsAsync(HttpStatusCode status, string what) => EventuallyAsync(async () =>
    {
        await _server.RefreshAsync();
        using var listing = await _server.Client.GetAsync("/FileDownloads/GetAvailableFileDownloads?Register=DAR");
        return listing.StatusCode == status;
    }, what);

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_rotated_secret_is_used_after_the_next_refresh()
    {
        // s3rver knows only its own access key id: one it refuses shows that the new Secret is in use.
        _kube.Mutate("secrets", "registers", "s3-creds", s => s["data"]!["AWS_ACCESS_KEY_ID"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("ROTATED")));
        await _server.RefreshAsync();
        Assert.Contains(_server.Logs.Lines, l => l.Contains("catalog of DAR could not be read", StringComparison.Ordinal));
        using (var refused = await _server.Client.GetAsync("/FileDownloads/GetFile?Filename=DAR_V1_Adresse_TotalDownload_JSON_Current_3.zip"))
        {
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        }

        _kube.Mutate("secrets", "registers", "s3-creds", s => s["data"]!["AWS_ACCESS_KEY_ID"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("S3RVER")));
        await _server.RefreshAsync();
        Assert.Equal(_dar.Bytes["DAR_V1_Adresse_TotalDownload_JSON_Current_3.zip"], await FetchPresignedWithS3rversKeyAsync("DAR_V1_Adresse_TotalDownload_JSON_Current_3.zip"));
    }

    // GetFile redirects to a URL presigned with s3rver's own key (the only one it accepts); the file's bytes through it.
    private async Task<byte[]> FetchPresignedWithS3rversKeyAsync(string fileName)
    {
        using var response = await _server.Client.GetAsync("/FileDownloads/GetFile?Filename=" + fileName);
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Contains("X-Amz-Credential=S3RVER%2F", response.Headers.Location!.Query, StringComparison.Ordinal);
        using var plain = new HttpClient();
        return await plain.GetByteArrayAsync(response.Headers.Location);
    }

    private void Secret(string name, string accessKey, string secretKey) => _kube.Create("secrets", new JsonObject
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Secret",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "registers" },
        ["data"] = new JsonObject
        {
            ["AWS_ACCESS_KEY_ID"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(accessKey)),
            ["AWS_SECRET_ACCESS_KEY"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(secretKey)),
        },
    });

    private void Schedule(string name, string register, string secret, string? readSecret = null)
    {
        var read = readSecret is null ? "" : $", readCredentialsSecretRef: {{name: {readSecret}}}";
        var yaml = $$$"""
            apiVersion: bulkexport.io/v1alpha1
            kind: ExportSchedule
            metadata: {name: {{{name}}}, namespace: registers}
            spec:
              register: {{{register}}}
              total: {schedule: "0 3 * * 6"}
              delta: {schedule: "0 3 * * *"}
              source: {files: {path: /nonexistent}}
              entities:
                - {name: Adresse, key: [id]}
              storage:
                s3: {bucket: {{{S3rverFixture.Bucket}}}, prefix: '{{{_prefix}}}{{{name}}}/', endpoint: '{{{s3.Endpoint}}}', forcePathStyle: true, compatibility: Legacy, credentialsSecretRef: {name: {{{secret}}}}{{{read}}}}
            """;
        _kube.Create("exportschedules", ScheduleDocument.ParseYaml(yaml)[0]!.AsObject());
    }
}
