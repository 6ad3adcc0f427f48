using System.IO.Compression;
using System.Text.Json.Nodes;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Publishing.Stores;

namespace BulkExport.Exporter.Tests.Support;

/// <summary>Reads published JSONL files back, as a consumer would, and applies deltas.</summary>
internal static class PublishedFiles
{
    public static List<JsonObject> ReadRows(IObjectStore store, IEnumerable<CatalogRow> parts)
    {
        var rows = new List<JsonObject>();
        foreach (var part in parts.OrderBy(p => p.Part))
        {
            using var stream = store.OpenReadAsync(part.Key, CancellationToken.None).GetAwaiter().GetResult();
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read);
            var entry = zip.GetEntry(part.ContainedFileName) ?? throw new InvalidDataException($"{part.Key} lacks {part.ContainedFileName}");
            using var reader = new StreamReader(entry.Open());
            while (reader.ReadLine() is { } line)
            {
                if (line.Length > 0)
                {
                    rows.Add(JsonNode.Parse(line)!.AsObject());
                }
            }
        }

        return rows;
    }

    public static List<JsonObject> Read(IObjectStore store, Catalog catalog, string entity, string typeOfDownload, string typeOfData, long generation) =>
        ReadRows(store, catalog.Files.Where(f => f.EntityName == entity && f.TypeOfDownload == typeOfDownload && f.TypeOfData == typeOfData && f.GenerationNumber == generation && f.ContainedFileFormat == "JSONL"));

    /// <summary>Identity of a row: the key, plus registration and effect start for temporal entities.</summary>
    public static string Identity(JsonObject row, IEnumerable<string> identityColumns) =>
        string.Join("|", identityColumns.Select(c => row[c]?.ToJsonString() ?? "null"));

    public static Dictionary<string, JsonObject> Apply(Dictionary<string, JsonObject> state, IEnumerable<JsonObject> delta, string[] identityColumns)
    {
        foreach (var change in delta)
        {
            var operation = (string)change["operation"]!;
            var row = change.DeepClone().AsObject();
            row.Remove("operation");
            var id = Identity(row, identityColumns);
            if (operation == "delete")
            {
                Assert.True(state.Remove(id), $"delete of {id}, which the consumer does not have");
            }
            else
            {
                state[id] = row;
            }
        }

        return state;
    }

    public static Dictionary<string, JsonObject> ByIdentity(IEnumerable<JsonObject> rows, string[] identityColumns) =>
        rows.ToDictionary(r => Identity(r, identityColumns));

    public static void AssertSameRows(Dictionary<string, JsonObject> expected, Dictionary<string, JsonObject> actual, string because)
    {
        var missing = expected.Keys.Except(actual.Keys).ToList();
        var extra = actual.Keys.Except(expected.Keys).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0, $"{because}: missing {string.Join(",", missing.Take(5))}; extra {string.Join(",", extra.Take(5))}");
        foreach (var (id, row) in expected)
        {
            Assert.True(JsonNode.DeepEquals(row, actual[id]), $"{because}: row {id} differs: expected {row.ToJsonString()}, got {actual[id].ToJsonString()}");
        }
    }
}
