using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Pipeline;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Publishing.Layout;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Publishing;

public sealed partial class FingerprintTests
{
    [Fact]
    public void Sum_IsOrderIndependent_AndWrapsModulo2To256()
    {
        var max = Enumerable.Repeat((byte)0xFF, 32).ToArray();
        var one = new byte[32];
        one[31] = 1;
        var a = default(FingerprintSum);
        a.Add(max);
        a.Add(one);
        Assert.Equal(new string('0', 64), a.ToHex());

        var digests = Enumerable.Range(0, 50).Select(i => SHA256.HashData(BitConverter.GetBytes(i))).ToList();
        var forward = default(FingerprintSum);
        var backward = default(FingerprintSum);
        digests.ForEach(d => forward.Add(d));
        Enumerable.Reverse(digests).ToList().ForEach(d => backward.Add(d));
        Assert.Equal(forward.ToHex(), backward.ToHex());
        Assert.Equal(50, forward.Count);

        // A carry through every limb: 0x00..00FFFF..FF (low 192 bits set) + 1.
        var low = new byte[32];
        Array.Fill(low, (byte)0xFF, 8, 24);
        var c = default(FingerprintSum);
        c.Add(low);
        c.Add(one);
        Assert.Equal("0000000000000001" + new string('0', 48), c.ToHex());
    }

    [Fact]
    public void CanonicalBytes_OfPublishedJson_SortMembers_KeepNumberText_AndEscapeMinimally()
    {
        Assert.Equal("{\"a\":[1.50,\"æ\u2028\",null,true],\"b\":{\"x\":1E+300,\"y\":\"\\\"\\\\\\n\\u0001\"}}",
            CanonicalJson.Format("""{ "b": {"y": "\"\\\n\u0001", "x": 1E+300}, "a": [1.50, "\u00e6\u2028", null, true] }"""u8));
        Assert.Equal("""{"k":2}""", CanonicalJson.Format("""{"k":1,"k":2}"""u8));
    }

    /// <summary>Every kind, with the values that break naive canonical forms.</summary>
    internal static readonly Column[] AllKinds =
    [
        new("id", ColumnKind.Integer),
        new("tekst", ColumnKind.Text),
        new("decimal", ColumnKind.Decimal),
        new("float", ColumnKind.Float),
        new("bool", ColumnKind.Boolean),
        new("dato", ColumnKind.Date),
        new("ts", ColumnKind.Timestamp),
        new("tstz", ColumnKind.TimestampTz),
        new("uuid", ColumnKind.Uuid),
        new("json", ColumnKind.Json),
        new("bytes", ColumnKind.Bytes),
        new("geom", ColumnKind.Geometry),
        new("tal", ColumnKind.Array, ColumnKind.Integer),
        new("Æblenavn", ColumnKind.Text),
    ];

    internal static List<object?[]> AllKindsRows() =>
    [
        [1L, "Ærø \"citat\" \\ \n\t\u0001\u001f\u007f\u2028 😀", new DecimalText("1.50"), 0.1, true, new DateOnly(2024, 2, 29), new DateTime(2024, 1, 2, 3, 4, 5, 123, DateTimeKind.Unspecified),
            new DateTimeOffset(2024, 6, 1, 10, 0, 0, TimeSpan.Zero), Guid.Parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), new RawJson("""{"b": {"d": 1.0, "c": [1, 2.50, null]}, "a": "æ"}"""),
            new byte[] { 0, 0xFF, 0x10 }, new GeometryValue("""{"type":"Point","coordinates":[12.5683371,55.6760968]}""", "POINT (12.5683371 55.6760968)", 4326), new object?[] { 1L, null, 3L }, "x"],
        [9007199254740993L, "", new DecimalText("12345678901234567890123456789.000000001"), 1e300, false, null, null, null, null, new RawJson("[]"), new byte[0], null, new object?[0], null],
        [3L, null, new DecimalText("NaN"), double.NaN, null, null, null, null, null, new RawJson("\"tekst\""), null, null, null, null],
        [4L, "minus nul", new DecimalText("-0.5"), -0.0, null, null, null, null, null, new RawJson("-1E-7"), null, null, null, null],
        [5L, "uendelig", new DecimalText("0"), double.NegativeInfinity, null, null, null, null, null, null, null, null, null, null],
    ];

    [Fact]
    public async Task ReadmeScript_RecomputesTheCatalogFingerprint_OfEveryJsonAndJsonlFile_TotalsAndDeltas()
    {
        using var h = new ExportHarness(s =>
        {
            s.Entities = [new EntitySpec { Name = "Alt", Key = ["id"], Geometry = new GeometrySpec { Column = "geom" } }, TypesOfDataTests.Adresse()];
            s.Output.Formats = [OutputFormats.JsonLines, OutputFormats.Json, OutputFormats.Csv, OutputFormats.GeoJson];
            s.Output.MaxRecordsPerFile = 2;
        });
        h.Source.Set("Alt", AllKinds, AllKindsRows());
        var t = h.Time.GetUtcNow().AddDays(-1);
        h.Source.Set("Adresse", TypesOfDataTests.AdresseColumns, [["a", "ø", t, null, t, null], ["b", "x", t, null, null, null]]);
        await h.RunAsync(RunKind.Total);
        var rows = h.Source.Rows("Alt");
        rows.RemoveAt(1);
        rows[0][1] = "ændret";
        h.Source.Rows("Adresse").RemoveAt(1);
        await h.RunAsync(RunKind.Delta);

        var script = ReadmeScript();
        var path = Path.Combine(h.Root, "fingerprint.py");
        await File.WriteAllTextAsync(path, script);
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(path);
        start.ArgumentList.Add(Path.Combine(h.Root, "store"));
        start.ArgumentList.Add(h.Register);
        using var process = Process.Start(start)!;
        var stdout = await process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, stderr);

        var catalog = await h.CatalogAsync();
        var jsonFiles = catalog.Files.Where(f => f.ContainedFileFormat is "JSON" or "JSONL").ToList();
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(jsonFiles.Count, lines.Length);
        Assert.All(lines, l => Assert.EndsWith(" ok", l, StringComparison.Ordinal));
        // Tombstones and split parts are among them, and files of other formats state the same sums.
        Assert.Contains(catalog.Files, f => f.TypeOfDownload == FileNaming.DeltaDownload && f.RecordCount > 0 && f.EntityName == "Adresse");
        Assert.Contains(catalog.Files, f => f.PartCount > 1);
        var report = await h.VerifyAsync();
        Assert.True(report.Ok, string.Join("\n", report.Problems));
        Assert.Equal(jsonFiles.Count, report.FingerprintedFiles);
    }

    [Fact]
    public async Task Verify_ReportsAFileWhoseFingerprintDoesNotMatchItsRecords()
    {
        using var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Alt", Key = ["id"], Geometry = new GeometrySpec { Column = "geom" } }]);
        h.Source.Set("Alt", AllKinds, AllKindsRows());
        await h.RunAsync(RunKind.Total);
        var catalogPath = Path.Combine(h.Root, "store", FileNaming.CatalogKey(h.Register));
        var catalog = await h.CatalogAsync();
        var total = catalog.Files.First(f => f.TypeOfDownload == FileNaming.TotalDownload);
        total.Fingerprint = new string('0', 64);
        await File.WriteAllBytesAsync(catalogPath, catalog.ToBytes());

        var report = await h.VerifyAsync();

        Assert.Contains(report.Problems, p => p.Contains(total.Key, StringComparison.Ordinal) && p.Contains("fingerprint", StringComparison.Ordinal));
    }

    internal static string ReadmeScript()
    {
        var readme = File.ReadAllText(Path.Combine(RepoRoot(), "README.md"));
        var section = readme[readme.IndexOf("### Content fingerprints", StringComparison.Ordinal)..];
        return PythonBlock().Match(section).Groups[1].Value;
    }

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Operator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("no Operator.sln above the test binaries");
    }

    [GeneratedRegex("```python\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex PythonBlock();
}
