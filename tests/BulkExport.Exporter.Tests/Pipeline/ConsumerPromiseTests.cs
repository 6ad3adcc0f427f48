using System.Text.Json;
using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Publishing.Layout;

namespace BulkExport.Exporter.Tests.Pipeline;

/// <summary>
/// The consumer promise with the files source: after each kind of change that time-window deltas
/// missed, a consumer reading only the published files and applying total + deltas holds exactly the
/// next total, row by row and by fingerprint.
/// </summary>
public sealed class ConsumerPromiseTests
{
    private sealed class FilesRegister : IDisposable
    {
        public FilesRegister()
        {
            H = new ExportHarness(s =>
            {
                s.Entities = [TypesOfDataTests.Adresse(), new EntitySpec { Name = "Postnummer", Key = ["nr"] }];
                s.Output.Formats = [OutputFormats.JsonLines, OutputFormats.Json, OutputFormats.Csv];
            });
            Directory.CreateDirectory(Data);
            Source = new FilesSource(new FilesSourceSpec { Path = Data }, H.Schedule.Spec.Entities, H.Time);
        }

        public ExportHarness H { get; }

        public string Data => Path.Combine(H.Root, "data");

        public FilesSource Source { get; }

        public List<Dictionary<string, object?>> Adresse { get; set; } = [];

        public List<Dictionary<string, object?>> Postnummer { get; set; } = [];

        public async Task RunAsync(RunKind kind)
        {
            Write("Adresse", Adresse);
            Write("Postnummer", Postnummer);
            await H.RunAsync(kind, source: Source);
        }

        private void Write(string entity, List<Dictionary<string, object?>> rows) =>
            File.WriteAllLines(Path.Combine(Data, entity + ".jsonl"), rows.Select(r => JsonSerializer.Serialize(r)));

        public async Task<List<string>> DeltaAsync(string entity, long generation)
        {
            var catalog = await H.CatalogAsync();
            var typeOfData = entity == "Adresse" ? TypesOfData.Bitemporal : TypesOfData.Current;
            return [.. PublishedFiles.Read(H.Store, catalog, entity, FileNaming.DeltaDownload, typeOfData, generation)
                .Select(r => $"{r["operation"]} {r[entity == "Adresse" ? "id" : "nr"]}")
                .Order(StringComparer.Ordinal)];
        }

        public void Dispose() => H.Dispose();
    }

    private static Dictionary<string, object?> Registration(string id, string status, DateTimeOffset from, DateTimeOffset? to = null) => new()
    {
        ["id"] = id,
        ["tekst"] = status,
        ["regfra"] = from,
        ["regtil"] = to,
        ["virkfra"] = from,
        ["virktil"] = null,
    };

    private static Dictionary<string, object?> Post(long nr, string? navn) => new() { ["nr"] = nr, ["navn"] = navn };

    [Fact]
    public async Task TemporalChangesTimeWindowsMissed_AndPlainKeyReuseAndNullChanges_ReachTheConsumer()
    {
        using var r = new FilesRegister();
        var t0 = r.H.Time.GetUtcNow().AddDays(-1);
        r.Adresse = [Registration("a", "1", t0), Registration("b", "1", t0), Registration("c", "1", t0)];
        r.Postnummer = [Post(1, "x"), Post(2, "y")];
        await r.RunAsync(RunKind.Total);
        var original = r.Adresse.Select(d => new Dictionary<string, object?>(d)).ToList();
        var pointInTime1 = r.H.Time.GetUtcNow().AddHours(-1);

        // A late-committing transaction: registration stamped before generation 1's snapshot, visible only now.
        r.Adresse.Add(Registration("d", "1", pointInTime1.AddMinutes(-10)));
        // Key reuse, step 1: delete.
        r.Postnummer.RemoveAll(p => (long)p["nr"]! == 1);
        await r.RunAsync(RunKind.Delta);
        Assert.Equal(["delete 1"], await r.DeltaAsync("Postnummer", 2));
        Assert.Equal(["insert d"], await r.DeltaAsync("Adresse", 2));

        // A physical delete of a temporal row; key reuse, step 2: the key comes back.
        r.Adresse.RemoveAll(a => (string)a["id"]! == "b");
        r.Postnummer.Add(Post(1, "back"));
        await r.RunAsync(RunKind.Total);
        Assert.Equal(["delete b"], await r.DeltaAsync("Adresse", 3));
        Assert.Equal(["insert 1"], await r.DeltaAsync("Postnummer", 3));

        // An in-place correction (no new registration); a plain value becomes NULL.
        r.Adresse.Single(a => (string)a["id"]! == "a")["tekst"] = "corrected";
        r.Postnummer.Single(p => (long)p["nr"]! == 2)["navn"] = null;
        await r.RunAsync(RunKind.Delta);
        Assert.Equal(["update a"], await r.DeltaAsync("Adresse", 4));
        Assert.Equal(["update 2"], await r.DeltaAsync("Postnummer", 4));

        // A restore from an older state: generation 1's rows again. NULL becomes a value again.
        r.Adresse = original;
        r.Postnummer.Single(p => (long)p["nr"]! == 2)["navn"] = "y";
        await r.RunAsync(RunKind.Total);
        Assert.Equal(["delete d", "insert b", "update a"], await r.DeltaAsync("Adresse", 5));

        // A history rewritten by a re-import: c's registration now starts elsewhere.
        r.Adresse = [.. r.Adresse.Where(a => (string)a["id"]! != "c"), Registration("c", "1", t0.AddMinutes(5))];
        await r.RunAsync(RunKind.Delta);
        Assert.Equal(["delete c", "insert c"], await r.DeltaAsync("Adresse", 6));
        await r.RunAsync(RunKind.Total);

        Assert.True(await PublishedMirror.AssertHoldsEveryGenerationAsync(r.H.Store, r.H.Register) >= 10);
        var report = await r.H.VerifyAsync();
        Assert.True(report.Ok, string.Join("\n", report.Problems));
        Assert.True(report.Replays > 0);
    }

    [Fact]
    public async Task TemporalRowWithNullRegistrationStart_IsRefused_WithEntityKeyAndReason_PublishingNothing()
    {
        using var r = new FilesRegister();
        var t0 = r.H.Time.GetUtcNow().AddDays(-1);
        r.Adresse = [Registration("a", "1", t0), new Dictionary<string, object?> { ["id"] = "b", ["tekst"] = "x", ["regfra"] = null, ["regtil"] = null, ["virkfra"] = t0, ["virktil"] = null }];
        r.Postnummer = [Post(1, "x")];

        var e = await Assert.ThrowsAsync<SourceException>(() => r.RunAsync(RunKind.Total));

        Assert.Contains("Adresse", e.Message, StringComparison.Ordinal);
        Assert.Contains("id=b", e.Message, StringComparison.Ordinal);
        Assert.Contains("'regfra' is NULL", e.Message, StringComparison.Ordinal);
        Assert.Null(await r.H.Store.GetBytesAsync(FileNaming.CatalogKey("DAR"), CancellationToken.None));
    }

    [Fact]
    public async Task TwoRowsWithOneTemporalIdentity_AreRefused_WithTheIdentity_PublishingNothing()
    {
        using var r = new FilesRegister();
        var t0 = r.H.Time.GetUtcNow().AddDays(-1);
        r.Adresse = [Registration("a", "1", t0), Registration("a", "2", t0)];
        r.Postnummer = [Post(1, "x")];

        var e = await Assert.ThrowsAsync<DuplicateKeyException>(() => r.RunAsync(RunKind.Total));

        Assert.Contains("entity Adresse: identity (id=a, regfra=", e.Message, StringComparison.Ordinal);
        Assert.Null(await r.H.Store.GetBytesAsync(FileNaming.CatalogKey("DAR"), CancellationToken.None));
    }

    [Fact]
    public async Task KeyValueOfTheWrongKind_NamesEntityFileLineAndColumn()
    {
        using var r = new FilesRegister();
        r.Adresse = [Registration("a", "1", r.H.Time.GetUtcNow().AddDays(-1))];
        r.Postnummer = [Post(1, "x"), new Dictionary<string, object?> { ["nr"] = "eight thousand", ["navn"] = "y" }];

        var e = await Assert.ThrowsAsync<SourceException>(() => r.RunAsync(RunKind.Total));

        Assert.Contains("Entity 'Postnummer'", e.Message, StringComparison.Ordinal);
        Assert.Contains("Postnummer.jsonl:2:", e.Message, StringComparison.Ordinal);
        Assert.Contains("key column 'nr'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BaseWithoutTemporalState_FromAnOlderExporter_GetsARebaseDelta_NeverAGuessedOne()
    {
        using var r = new FilesRegister();
        var t0 = r.H.Time.GetUtcNow().AddDays(-1);
        r.Adresse = [Registration("a", "1", t0), Registration("b", "1", t0)];
        r.Postnummer = [Post(1, "x")];
        await r.RunAsync(RunKind.Total);

        // Make generation 1 look as an older exporter committed it: no state for the temporal entity.
        var key = $"{FileNaming.GenerationsFolder("DAR")}{1:D10}.json";
        var manifest = GenerationManifest.FromBytes((await r.H.Store.GetBytesAsync(key, CancellationToken.None))!, key);
        manifest.Entities.Single(e => e.Name == "Adresse").State = null;
        await File.WriteAllBytesAsync(Path.Combine(r.H.Root, "store", key), manifest.ToBytes());

        r.Adresse.RemoveAll(a => (string)a["id"]! == "b");
        await r.RunAsync(RunKind.Delta);

        var catalog = await r.H.CatalogAsync();
        var delta = catalog.Files.Where(f => f.EntityName == "Adresse" && f.TypeOfDownload == FileNaming.DeltaDownload && f.GenerationNumber == 2).ToList();
        Assert.All(delta, d => Assert.True(d.Rebase));
        Assert.Equal(["insert a"], await r.DeltaAsync("Adresse", 2));
        Assert.All(catalog.Files.Where(f => f.EntityName == "Postnummer"), f => Assert.Null(f.Rebase));
        await PublishedMirror.AssertHoldsEveryGenerationAsync(r.H.Store, r.H.Register);
        Assert.True((await r.H.VerifyAsync()).Ok);
    }
}
