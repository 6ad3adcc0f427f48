using BulkExport.Exporter.Tests.Configuration;
using BulkExport.Exporter.Tests.Publishing.Signing;
using BulkExport.Exporter.Tests.Support;

namespace BulkExport.Exporter.Tests.Cli;

/// <summary><c>exporter run</c> with <c>spec.signing</c>, and <c>exporter verify --public-key</c>, as processes.</summary>
public sealed class SignedExportProcessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("exporter-signed-").FullName;

    private string Config(string? signing)
    {
        var source = Path.Combine(_dir, "src");
        Directory.CreateDirectory(source);
        File.WriteAllText(Path.Combine(source, "Postnummer.jsonl"), "{\"postnr\":8000,\"navn\":\"Aarhus C\"}\n");
        File.WriteAllText(Path.Combine(source, "Adresse.jsonl"), "{\"id\":\"a\",\"registreringfra\":\"2020-01-01T00:00:00Z\",\"registreringtil\":null,\"virkningfra\":\"2020-01-01T00:00:00Z\",\"virkningtil\":null}\n");
        var path = Path.Combine(_dir, "schedule.yaml");
        File.WriteAllText(path, ScheduleDocumentTests.Valid
            .Replace("files: {path: /data}", $"files: {{path: {source}}}", StringComparison.Ordinal)
            .Replace("local: {path: ./out}", $"local: {{path: {_dir}/out}}", StringComparison.Ordinal)
            + (signing is null ? "" : $"\n  signing: {signing}\n"));
        return path;
    }

    private string WriteKey(string name, string pem)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, pem);
        return path;
    }

    /// <summary>A signed total run of the sample: the private key PEM and the config path.</summary>
    private async Task<(string Pem, string Config)> SignedTotalAsync()
    {
        var pem = SignedPublicationTests.NewKeyPem();
        var config = Config($"{{keyFile: {WriteKey("key.pem", pem)}}}");
        var run = await ExporterProcess.RunAsync(_dir, "run", "--config", config, "--type", "total");
        Assert.True(run.ExitCode == 0, run.Stderr);
        return (pem, config);
    }

    [Fact]
    public async Task SignedRun_VerifiesWithItsPublicKey_AndFailsWithAnotherNamingTheObject()
    {
        var (pem, config) = await SignedTotalAsync();

        var good = await ExporterProcess.RunAsync(_dir, "verify", "--config", config, "--public-key", WriteKey("key.pub", SignedPublicationTests.PublicPem(pem)));
        Assert.True(good.ExitCode == 0, good.Stdout + good.Stderr);
        Assert.Contains("signatures: 2 objects (manifests and the catalog) signed by trusted keys", good.Stdout, StringComparison.Ordinal);

        var wrong = await ExporterProcess.RunAsync(_dir, "verify", "--config", config, "--public-key", WriteKey("other.pub", SignedPublicationTests.PublicPem(SignedPublicationTests.NewKeyPem())));
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("0000000001.json: signed by key", wrong.Stdout, StringComparison.Ordinal);
        Assert.Contains("catalog.json: signed by key", wrong.Stdout, StringComparison.Ordinal);

        var unchecked_ = await ExporterProcess.RunAsync(_dir, "verify", "--config", config);
        Assert.Equal(0, unchecked_.ExitCode);
        Assert.Single(unchecked_.Stdout.Split('\n'), l => l.StartsWith("signatures: not checked", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Signatures_VerifyWithOpenssl_ThroughTheStandardLibraryScriptInTheReadme()
    {
        var (pem, _) = await SignedTotalAsync();
        var store = Path.Combine(_dir, "out");

        var catalog = await ScriptAsync(store, WriteKey("key.pub", SignedPublicationTests.PublicPem(pem)));
        var manifest = await ScriptAsync(store, Path.Combine(_dir, "key.pub"), "1");
        var other = await ScriptAsync(store, WriteKey("other.pub", SignedPublicationTests.PublicPem(SignedPublicationTests.NewKeyPem())));

        Assert.True(catalog.ExitCode == 0, catalog.Output);
        Assert.Contains("Verified OK", catalog.Output, StringComparison.Ordinal);
        Assert.True(manifest.ExitCode == 0, manifest.Output);
        Assert.Equal(1, other.ExitCode);
    }

    private static async Task<(int ExitCode, string Output)> ScriptAsync(string store, string publicKey, params string[] generation)
    {
        var start = new System.Diagnostics.ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { Path.Combine(RepoPaths.Root, "examples", "verify_signature.py"), store, "DAR", publicKey }.Concat(generation))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        return (process.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task UnsignedRegister_VerifySaysSoInOneLine_AndFailsWhenAKeyIsRequired()
    {
        var config = Config(null);
        var run = await ExporterProcess.RunAsync(_dir, "run", "--config", config, "--type", "total");
        Assert.True(run.ExitCode == 0, run.Stderr);

        var verify = await ExporterProcess.RunAsync(_dir, "verify", "--config", config);
        Assert.Equal(0, verify.ExitCode);
        Assert.Single(verify.Stdout.Split('\n'), l => l.StartsWith("signatures: none;", StringComparison.Ordinal));

        var required = await ExporterProcess.RunAsync(_dir, "verify", "--config", config, "--public-key", WriteKey("key.pub", SignedPublicationTests.PublicPem(SignedPublicationTests.NewKeyPem())));
        Assert.Equal(1, required.ExitCode);
        Assert.Contains("0000000001.json: not signed", required.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnreadableSigningKey_ExitsWith2_NamingTheSetting_AndPublishesNothing()
    {
        var config = Config($"{{keyFile: {_dir}/absent.pem}}");

        var run = await ExporterProcess.RunAsync(_dir, "run", "--config", config, "--type", "total");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("spec.signing.keyFile", run.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out", "DAR")));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
