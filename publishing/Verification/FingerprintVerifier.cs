using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Sorting;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Verification;

/// <summary>
/// Checks content fingerprints the way a consumer would, from the published files alone: every JSON
/// and JSONL file's records sum to the fingerprint and record count its catalog row states (other
/// formats must state the same fingerprint as the JSON(L) files of their group), and for every start
/// point (a live total, or a re-base delta) and every later generation, start + deltas replayed by
/// identity give the entity fingerprint that generation's manifest records.
/// </summary>
/// <remarks>
/// The replay holds no dictionary of rows: every record becomes (identity, generation, operation,
/// digest), an external sort groups them by identity in generation order, and the last record at or
/// before each checkpoint decides what that identity contributes. Memory is the sort's budget.
/// </remarks>
internal sealed class FingerprintVerifier(IObjectStore store)
{
    private const byte Upsert = 1;
    private const byte Delete = 2;

    public int FilesChecked { get; private set; }

    public int ReplaysChecked { get; private set; }

    public async Task VerifyAsync(Catalog catalog, IReadOnlyList<GenerationManifest> committed, List<string> problems, List<string> warnings, CancellationToken cancellationToken)
    {
        foreach (var row in catalog.Files.Where(r => r.Fingerprint is not null && IsJson(r.ContainedFileFormat)))
        {
            var sum = default(FingerprintSum);
            await foreach (var record in ReadRecordsAsync(row, cancellationToken).ConfigureAwait(false))
            {
                sum.Add(CanonicalJson.RowDigest(record));
            }

            FilesChecked++;
            if (sum.ToHex() != row.Fingerprint || sum.Count != row.RecordCount)
            {
                problems.Add($"{row.Key}: its {sum.Count} records have fingerprint {sum.ToHex()}, the catalog says {row.RecordCount} records with {row.Fingerprint}");
            }
        }

        foreach (var group in catalog.Files.Where(r => r.Fingerprint is not null)
                     .GroupBy(r => (r.EntityName, r.TypeOfDownload, r.TypeOfData, r.GenerationNumber)))
        {
            var byFormat = group.GroupBy(r => r.ContainedFileFormat)
                .Select(f => (Format: f.Key, Sum: Sum(f.Select(r => r.Fingerprint!))))
                .ToList();
            if (byFormat.Select(f => f.Sum).Distinct().Count() > 1)
            {
                problems.Add($"{group.Key.EntityName} {group.Key.TypeOfDownload} {group.Key.TypeOfData} {group.Key.GenerationNumber}: formats state different fingerprints ({string.Join(", ", byFormat.Select(f => $"{f.Format} {f.Sum}"))})");
            }
        }

        await VerifyReplaysAsync(catalog, committed, problems, warnings, cancellationToken).ConfigureAwait(false);
    }

    private async Task VerifyReplaysAsync(Catalog catalog, IReadOnlyList<GenerationManifest> committed, List<string> problems, List<string> warnings, CancellationToken cancellationToken)
    {
        var latest = committed.Count > 0 ? committed[^1] : null;
        foreach (var entity in latest?.Entities ?? [])
        {
            if (entity.Identity is not { Count: > 0 } identity)
            {
                continue;
            }

            var typeOfData = entity.Temporal ? "Bitemporal" : "Current";
            var rows = catalog.Files.Where(r => r.EntityName == entity.Name && r.TypeOfData == typeOfData && IsJson(r.ContainedFileFormat)).ToList();
            var format = rows.Any(r => r.ContainedFileFormat == "JSONL") ? "JSONL" : "JSON";
            rows = [.. rows.Where(r => r.ContainedFileFormat == format)];
            var starts = rows
                .Where(r => r.Part == 1 && (r.TypeOfDownload == FileNaming.TotalDownload || r.Rebase == true))
                .Select(r => (r.GenerationNumber, r.TypeOfDownload))
                .Distinct()
                .OrderBy(s => s.GenerationNumber)
                .ToList();
            foreach (var (start, kind) in starts)
            {
                await ReplayAsync(entity.Name, identity, start, kind, rows, committed, problems, warnings, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task ReplayAsync(string entity, IReadOnlyList<string> identity, long start, string startKind, List<CatalogRow> rows, IReadOnlyList<GenerationManifest> committed, List<string> problems, List<string> warnings, CancellationToken cancellationToken)
    {
        // The generations after the start whose deltas are all live, up to the first gap or re-base.
        var chain = new List<(long Generation, ManifestEntity? Entity)> { (start, Entity(committed, start, entity)) };
        foreach (var manifest in committed.Where(m => m.Generation > start))
        {
            var delta = rows.Where(r => r.GenerationNumber == manifest.Generation && r.TypeOfDownload == FileNaming.DeltaDownload).ToList();
            if (delta.Count == 0 || delta.Count != delta[0].PartCount || delta[0].Rebase == true)
            {
                break;
            }

            chain.Add((manifest.Generation, Entity(committed, manifest.Generation, entity)));
        }

        var checkpoints = chain.Where(c => c.Entity?.Fingerprint is not null).ToList();
        if (checkpoints.Count == 0)
        {
            return;
        }

        var temp = Directory.CreateTempSubdirectory("bulkexport-verify-").FullName;
        try
        {
            using var sorter = new ExternalSorter(temp);
            var noHash = new byte[ExternalSorter.HashLength];
            var key = new ArrayBufferWriter<byte>(128);
            var payload = new byte[1 + 32];
            foreach (var (generation, _) in chain)
            {
                var files = rows.Where(r => r.GenerationNumber == generation && r.TypeOfDownload == (generation == start ? startKind : FileNaming.DeltaDownload)).OrderBy(r => r.Part);
                foreach (var file in files)
                {
                    await foreach (var record in ReadRecordsAsync(file, cancellationToken).ConfigureAwait(false))
                    {
                        var row = JsonNode.Parse(record)?.AsObject() ?? throw new InvalidDataException($"{file.Key}: a record is not an object");
                        var operation = row["operation"]?.GetValue<string>();
                        if (file.TypeOfDownload == FileNaming.DeltaDownload)
                        {
                            row.Remove("operation");
                        }

                        payload[0] = operation == "delete" ? Delete : Upsert;
                        CanonicalJson.RowDigest(Encoding.UTF8.GetBytes(row.ToJsonString())).CopyTo(payload, 1);
                        key.ResetWrittenCount();
                        var id = Encoding.UTF8.GetBytes("[" + string.Join(",", identity.Select(c => CanonicalJson.Format(Encoding.UTF8.GetBytes(row[c]?.ToJsonString() ?? "null")))) + "]");
                        BinaryPrimitives.WriteInt32BigEndian(key.GetSpan(4), id.Length);
                        key.Advance(4);
                        key.Write(id);
                        BinaryPrimitives.WriteInt64BigEndian(key.GetSpan(8), generation);
                        key.Advance(8);
                        sorter.Add(key.WrittenSpan, noHash, payload);
                    }
                }
            }

            var sums = new FingerprintSum[checkpoints.Count];
            var group = new List<(long Generation, byte[] Payload)>();
            byte[]? current = null;
            foreach (var record in sorter.ReadSorted())
            {
                var id = record.Key.AsSpan(0, record.Key.Length - 8);
                if (current is null || !id.SequenceEqual(current))
                {
                    Settle(group, checkpoints, sums);
                    group.Clear();
                    current = id.ToArray();
                }

                group.Add((BinaryPrimitives.ReadInt64BigEndian(record.Key.AsSpan(record.Key.Length - 8)), record.Payload));
            }

            Settle(group, checkpoints, sums);
            for (var i = 0; i < checkpoints.Count; i++)
            {
                var (generation, expected) = checkpoints[i];
                ReplaysChecked++;
                if (sums[i].ToHex() != expected!.Fingerprint || sums[i].Count != expected.Records)
                {
                    problems.Add($"{entity}: {(startKind == FileNaming.TotalDownload ? "total" : "re-base delta")} {start} + deltas {start + 1}..{generation} replayed give {sums[i].Count} rows with fingerprint {sums[i].ToHex()}, but generation {generation}'s manifest records {expected.Records} rows with {expected.Fingerprint}");
                }
            }
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>Adds one identity's contribution at every checkpoint: its last record at or before it, unless a delete.</summary>
    private static void Settle(List<(long Generation, byte[] Payload)> group, List<(long Generation, ManifestEntity? Entity)> checkpoints, FingerprintSum[] sums)
    {
        if (group.Count == 0)
        {
            return;
        }

        var at = -1;
        for (var i = 0; i < checkpoints.Count; i++)
        {
            while (at + 1 < group.Count && group[at + 1].Generation <= checkpoints[i].Generation)
            {
                at++;
            }

            if (at >= 0 && group[at].Payload[0] == Upsert)
            {
                sums[i].Add(group[at].Payload.AsSpan(1));
            }
        }
    }

    private static ManifestEntity? Entity(IReadOnlyList<GenerationManifest> committed, long generation, string name) =>
        committed.FirstOrDefault(m => m.Generation == generation)?.Entities.FirstOrDefault(e => e.Name == name);

    private static bool IsJson(string format) => format is "JSON" or "JSONL";

    private static string Sum(IEnumerable<string> fingerprints)
    {
        var sum = default(FingerprintSum);
        foreach (var f in fingerprints)
        {
            sum.Add(FingerprintSum.Parse(f));
        }

        return sum.ToHex();
    }

    /// <summary>
    /// The records of a published JSON or JSONL file, one row object per line (the JSON format
    /// writes its array one row per line, so the same reader serves both).
    /// </summary>
    private async IAsyncEnumerable<byte[]> ReadRecordsAsync(CatalogRow row, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var temp = Path.GetTempFileName();
        try
        {
            await using (var input = await store.OpenReadAsync(row.Key, cancellationToken).ConfigureAwait(false))
            await using (var output = File.Create(temp))
            {
                await input.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
            }

            using var zip = ZipFile.OpenRead(temp);
            var entry = zip.GetEntry(row.ContainedFileName) ?? throw new InvalidDataException($"{row.Key}: the zip does not contain {row.ContainedFileName}");
            using var reader = new StreamReader(entry.Open(), Encoding.UTF8);
            while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                var text = line.AsSpan().Trim();
                if (text.EndsWith(','))
                {
                    text = text[..^1];
                }

                if (text.IsEmpty || text is "[" or "]")
                {
                    continue;
                }

                yield return Encoding.UTF8.GetBytes(text.ToString());
            }
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
