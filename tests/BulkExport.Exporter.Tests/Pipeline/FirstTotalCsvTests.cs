using System.IO.Compression;
using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Tests.Formats;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Publishing.Layout;

namespace BulkExport.Exporter.Tests.Pipeline;

/// <summary>
/// A first total formats each row's CSV fields (JSON object) once and shares them between the total
/// and the all-insert delta: both files must hold exactly the bytes the encoder gives the boxed rows,
/// across part splits too.
/// </summary>
public sealed class FirstTotalCsvTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public async Task FirstTotal_TotalAndDelta_AreTheCsvOfTheRows_WithTheOperationAfterEachDeltaRow(int maxRecordsPerFile)
    {
        Column[] columns = [new("id", ColumnKind.Integer), .. FormatTestData.AllKinds.Where(c => c.Kind != ColumnKind.Geometry)];
        var sample = FormatTestData.SampleRow().Where((_, i) => FormatTestData.AllKinds[i].Kind != ColumnKind.Geometry).ToArray();
        var nulls = new object?[sample.Length];
        var rows = Enumerable.Range(0, 40).Select(i => (object?[])[(long)i, .. (i % 3 == 0 ? nulls : sample)]).ToList();
        using var h = new ExportHarness(s =>
        {
            s.Entities = [new EntitySpec { Name = "Rows", Key = ["id"] }];
            s.Output.Formats = ["CSV"];
            if (maxRecordsPerFile > 0)
            {
                s.Output.MaxRecordsPerFile = maxRecordsPerFile;
            }
        });
        h.Source.SortedByKey = true;
        h.Source.Set("Rows", columns, rows);

        await h.RunAsync(RunKind.Total);
        var catalog = await h.CatalogAsync();

        var expectedTotal = FormatTestData.EncodeText(RecordFormats.Csv, columns, [.. rows]);
        var deltaColumns = columns.Append(new Column(EntityExport.OperationColumn, ColumnKind.Text, Nullable: false)).ToArray();
        var expectedDelta = FormatTestData.EncodeText(RecordFormats.Csv, deltaColumns, [.. rows.Select(r => (object?[])[.. r, "insert"])]);
        Assert.Equal(Body(expectedTotal), Read(h, catalog, FileNaming.TotalDownload));
        Assert.Equal(Body(expectedDelta), Read(h, catalog, FileNaming.DeltaDownload));
        Assert.True((await h.VerifyAsync()).Ok);
    }

    [Theory]
    [InlineData("JSON", 0)]
    [InlineData("JSON", 7)]
    [InlineData("JSONL", 0)]
    [InlineData("JSONL", 7)]
    public async Task FirstTotal_JsonTotalAndDelta_AreTheObjectsOfTheRows_WithTheOperationLastInEachDeltaObject(string format, int maxRecordsPerFile)
    {
        Column[] columns = [new("id", ColumnKind.Integer), .. FormatTestData.AllKinds.Where(c => c.Kind != ColumnKind.Geometry)];
        var sample = FormatTestData.SampleRow().Where((_, i) => FormatTestData.AllKinds[i].Kind != ColumnKind.Geometry).ToArray();
        var nulls = new object?[sample.Length];
        var rows = Enumerable.Range(0, 40).Select(i => (object?[])[(long)i, .. (i % 3 == 0 ? nulls : sample)]).ToList();
        using var h = new ExportHarness(s =>
        {
            s.Entities = [new EntitySpec { Name = "Rows", Key = ["id"] }];
            s.Output.Formats = [format];
            if (maxRecordsPerFile > 0)
            {
                s.Output.MaxRecordsPerFile = maxRecordsPerFile;
            }
        });
        h.Source.SortedByKey = true;
        h.Source.Set("Rows", columns, rows);

        await h.RunAsync(RunKind.Total);
        var catalog = await h.CatalogAsync();

        // The boxed rows through the encoder, one writer per file: no record shared between files.
        var encoding = RecordFormats.Get(format);
        var expectedTotal = Objects(FormatTestData.EncodeText(encoding, columns, [.. rows]));
        var deltaColumns = columns.Append(new Column(EntityExport.OperationColumn, ColumnKind.Text, Nullable: false)).ToArray();
        var expectedDelta = Objects(FormatTestData.EncodeText(encoding, deltaColumns, [.. rows.Select(r => (object?[])[.. r, "insert"])]));
        Assert.Equal(40, expectedTotal.Count);
        Assert.Equal(expectedTotal, ReadObjects(h, catalog, FileNaming.TotalDownload));
        Assert.Equal(expectedDelta, ReadObjects(h, catalog, FileNaming.DeltaDownload));
        Assert.True((await h.VerifyAsync()).Ok);
    }

    // One row object per line in JSON and JSONL; JSON's lines carry a separating comma and the array's brackets.
    private static List<string> Objects(string text) =>
        [.. text.Split('\n').Where(l => l.StartsWith('{')).Select(l => l.TrimEnd(','))];

    private static List<string> ReadObjects(ExportHarness h, Catalog catalog, string typeOfDownload)
    {
        var objects = new List<string>();
        foreach (var part in catalog.Files.Where(f => f.TypeOfDownload == typeOfDownload).OrderBy(f => f.Part))
        {
            using var stream = h.Store.OpenReadAsync(part.Key, CancellationToken.None).GetAwaiter().GetResult();
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read);
            using var reader = new StreamReader(zip.GetEntry(part.ContainedFileName)!.Open(), Encoding.UTF8);
            objects.AddRange(Objects(reader.ReadToEnd()));
        }

        return objects;
    }

    // The records without the header line: parts repeat the header.
    private static string Body(string csv) => csv[(csv.IndexOf("\r\n", StringComparison.Ordinal) + 2)..];

    private static string Read(ExportHarness h, Catalog catalog, string typeOfDownload)
    {
        var text = new StringBuilder();
        foreach (var part in catalog.Files.Where(f => f.TypeOfDownload == typeOfDownload).OrderBy(f => f.Part))
        {
            using var stream = h.Store.OpenReadAsync(part.Key, CancellationToken.None).GetAwaiter().GetResult();
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read);
            using var reader = new StreamReader(zip.GetEntry(part.ContainedFileName)!.Open(), Encoding.UTF8);
            text.Append(Body(reader.ReadToEnd()));
        }

        return text.ToString();
    }
}
