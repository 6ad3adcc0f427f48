using System.IO.Compression;
using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Tests.Pipeline;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Publishing.Layout;

namespace BulkExport.Exporter.Tests.Publishing.Verification;

/// <summary>
/// verify recomputes every file's fingerprint from the file itself, whatever the format: a register
/// published only as CSV (typed by its DDL) or only as GEOJSON verifies, totals and deltas replayed;
/// a tampered CSV row is caught naming the file and line.
/// </summary>
public sealed class FormatFingerprintTests
{
    [Theory]
    [InlineData(OutputFormats.Csv)]
    [InlineData(OutputFormats.GeoJson)]
    public async Task A_register_published_in_one_format_only_is_re_fingerprinted_file_by_file_and_replayed(string format)
    {
        using var h = await PublishAsync([format]);
        var catalog = await h.CatalogAsync();
        Assert.All(catalog.Files, f => Assert.Equal(format, f.ContainedFileFormat));

        var report = await h.VerifyAsync();

        Assert.True(report.Ok, string.Join("\n", report.Problems));
        Assert.Equal(catalog.Files.Count, report.FingerprintedFiles);
        Assert.True(report.Replays >= 4, $"{report.Replays} replays");
    }

    [Fact]
    public async Task A_tampered_csv_value_is_reported_with_the_file_and_the_line_that_no_other_format_holds()
    {
        using var h = await PublishAsync([OutputFormats.Csv, OutputFormats.JsonLines]);
        var row = (await h.CatalogAsync()).Files.First(f => f.ContainedFileFormat == "CSV" && f.TypeOfDownload == FileNaming.TotalDownload && f.EntityName == "Alt" && f.GenerationNumber == 1);
        var line = Tamper(h, row, text => text.Replace("minus nul", "minus null", StringComparison.Ordinal), "minus null");

        var report = await h.VerifyAsync();

        Assert.Contains(report.Problems, p => p.Contains(row.Key, StringComparison.Ordinal) && p.Contains("fingerprint", StringComparison.Ordinal)
            && p.Contains($"{row.ContainedFileName} line(s) {line} ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_csv_value_that_breaks_its_ddl_type_is_reported_with_file_line_and_column_in_a_csv_only_register()
    {
        using var h = await PublishAsync([OutputFormats.Csv]);
        var row = (await h.CatalogAsync()).Files.First(f => f.TypeOfDownload == FileNaming.TotalDownload && f.EntityName == "Alt" && f.GenerationNumber == 1);
        var line = Tamper(h, row, text => text.Replace("\r\n4,minus nul,", "\r\nfire,minus nul,", StringComparison.Ordinal), "fire,minus nul");

        var report = await h.VerifyAsync();

        Assert.Contains(report.Problems, p => p.Contains($"{row.ContainedFileName}:{line}: column 'id' (bigint): 'fire' is not an integer", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_csv_row_with_a_field_missing_is_reported_with_its_line()
    {
        using var h = await PublishAsync([OutputFormats.Csv]);
        var row = (await h.CatalogAsync()).Files.First(f => f.TypeOfDownload == FileNaming.TotalDownload && f.EntityName == "Alt" && f.GenerationNumber == 1);
        var line = Tamper(h, row, text => text.Replace("\r\n4,minus nul,", "\r\n4,", StringComparison.Ordinal), "\r\n4,-0.5");

        var report = await h.VerifyAsync();

        Assert.Contains(report.Problems, p => p.Contains($"{row.ContainedFileName}:{line}: 13 fields, the header has 14", StringComparison.Ordinal));
    }

    /// <summary>Total 1, a delta with an update, an insert and deletes, a total, one more delta: plain and temporal.</summary>
    private static async Task<ExportHarness> PublishAsync(List<string> formats)
    {
        var h = new ExportHarness(s =>
        {
            s.Entities = [new EntitySpec { Name = "Alt", Key = ["id"], Geometry = new GeometrySpec { Column = "geom" } }, TypesOfDataTests.Adresse()];
            s.Output.Formats = formats;
            s.Output.TypesOfData = [TypesOfData.Bitemporal, TypesOfData.Current];
        });
        h.Source.Set("Alt", FingerprintTests.AllKinds, FingerprintTests.AllKindsRows());
        var t = h.Time.GetUtcNow().AddDays(-1);
        h.Source.Set("Adresse", TypesOfDataTests.AdresseColumns, [["a", "ø", t, null, t, null], ["b", "x, \"y\"", t, null, t, null]]);
        await h.RunAsync(RunKind.Total);
        var rows = h.Source.Rows("Alt");
        rows.RemoveAt(1);
        rows[0][1] = "ændret";
        rows.Add([6L, "ny", null, 2.5, true, null, null, null, null, null, null, null, new object?[] { 7L }, "y"]);
        h.Source.Rows("Adresse").RemoveAt(1);
        await h.RunAsync(RunKind.Delta);
        await h.RunAsync(RunKind.Total);
        h.Source.Rows("Alt").RemoveAt(0);
        await h.RunAsync(RunKind.Delta);
        return h;
    }

    /// <summary>Rewrites the data file in the stored zip; returns the 1-based line where <paramref name="marker"/> now starts.</summary>
    private static int Tamper(ExportHarness h, CatalogRow row, Func<string, string> change, string marker)
    {
        var path = h.Store.FilePath(row.Key);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Update);
        var entry = zip.GetEntry(row.ContainedFileName)!;
        string text;
        using (var reader = new StreamReader(entry.Open(), Encoding.UTF8))
        {
            text = reader.ReadToEnd();
        }

        var changed = change(text);
        Assert.NotEqual(text, changed);
        entry.Delete();
        using (var writer = new StreamWriter(zip.CreateEntry(row.ContainedFileName).Open(), new UTF8Encoding(false)))
        {
            writer.Write(changed);
        }

        var at = changed.IndexOf(marker.TrimStart('\r', '\n'), StringComparison.Ordinal);
        return changed[..at].Count(c => c == '\n') + 1;
    }
}
