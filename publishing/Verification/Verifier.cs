using System.IO.Compression;
using System.Security.Cryptography;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Verification;

/// <summary>
/// What a careful mirror would check: every catalog row's file exists with its size and SHA-256 and
/// holds the data file it names, every row belongs to a committed manifest, and the delta chain of
/// the committed generations and of the live delta files has no hole.
/// </summary>
/// <param name="geometryColumns">Entity → geometry column from the schedule, to rebuild GEOJSON rows (a GeoJSON feature does not name its geometry's column).</param>
internal sealed class Verifier(IObjectStore store, string register, IReadOnlyDictionary<string, string>? geometryColumns = null, PublishedRecordReaders? readers = null)
{
    public async Task<VerifyReport> VerifyAsync(CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var warnings = new List<string>();
        var ledger = new GenerationLedger(store, register);
        var state = await ledger.ReadAsync(cancellationToken).ConfigureAwait(false);
        var committed = await ledger.ReadCommittedAsync(state, cancellationToken).ConfigureAwait(false);

        for (var i = 1; i < committed.Count; i++)
        {
            if (committed[i].BaseGeneration != committed[i - 1].Generation)
            {
                problems.Add($"generation {committed[i].Generation}: base generation is {committed[i].BaseGeneration?.ToString() ?? "none"}, but the previous committed generation is {committed[i - 1].Generation}");
            }
        }

        if (committed.Count > 0 && committed[0].BaseGeneration is not null && committed.All(m => m.Generation != committed[0].BaseGeneration))
        {
            warnings.Add($"generation {committed[0].Generation} follows generation {committed[0].BaseGeneration}, whose manifest is gone");
        }

        var catalogKey = FileNaming.CatalogKey(register);
        var catalogBytes = await store.GetBytesAsync(catalogKey, cancellationToken).ConfigureAwait(false);
        if (catalogBytes is null)
        {
            if (committed.Count > 0)
            {
                problems.Add($"{store.Describe(catalogKey)}: missing although {committed.Count} generations are committed");
            }

            return new VerifyReport(0, 0, problems, warnings);
        }

        var catalog = Catalog.FromBytes(catalogBytes, store.Describe(catalogKey));
        if (catalog.LatestGeneration != state.Latest?.Generation)
        {
            warnings.Add($"catalog shows generation {catalog.LatestGeneration} but generation {state.Latest?.Generation} is committed; `exporter gc` rewrites it");
        }

        var byGeneration = committed.ToDictionary(m => m.Generation);
        long bytes = 0;
        foreach (var row in catalog.Files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!byGeneration.TryGetValue(row.GenerationNumber, out var manifest) || manifest.Files.All(f => f.Key != row.Key || f.Sha256 != row.Sha256))
            {
                problems.Add($"{row.Key}: listed in the catalog but not by a committed manifest of generation {row.GenerationNumber}");
            }

            var problem = await CheckFileAsync(row, cancellationToken).ConfigureAwait(false);
            if (problem is not null)
            {
                problems.Add($"{row.Key}: {problem}");
            }

            bytes += row.SizeBytes;
        }

        foreach (var group in catalog.Files.Where(r => r.TypeOfDownload == FileNaming.DeltaDownload && r.Part == 1)
                     .GroupBy(r => (r.EntityName, r.ContainedFileFormat, r.TypeOfData)))
        {
            var chain = group.OrderBy(r => r.GenerationNumber).ToList();
            for (var i = 1; i < chain.Count; i++)
            {
                if (chain[i].BaseGenerationNumber != chain[i - 1].GenerationNumber)
                {
                    problems.Add($"delta chain of {group.Key.EntityName} {group.Key.ContainedFileFormat} {group.Key.TypeOfData}: generation {chain[i].GenerationNumber} follows {chain[i].BaseGenerationNumber?.ToString() ?? "nothing"}, but the previous live delta is {chain[i - 1].GenerationNumber}");
                }
            }
        }

        var fingerprints = new FingerprintVerifier(store, readers, geometryColumns);
        await fingerprints.VerifyAsync(catalog, committed, problems, warnings, cancellationToken).ConfigureAwait(false);

        return new VerifyReport(catalog.Files.Count, bytes, problems, warnings)
        {
            FingerprintedFiles = fingerprints.FilesChecked,
            Replays = fingerprints.ReplaysChecked,
        };
    }

    private async Task<string?> CheckFileAsync(CatalogRow row, CancellationToken cancellationToken)
    {
        var temp = Path.GetTempFileName();
        try
        {
            try
            {
                await using var input = await store.OpenReadAsync(row.Key, cancellationToken).ConfigureAwait(false);
                await using var output = File.Create(temp);
                await input.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
            }
            catch (StoreException e)
            {
                return $"cannot be read: {e.Message}";
            }

            var length = new FileInfo(temp).Length;
            if (length != row.SizeBytes)
            {
                return $"size {length} differs from the catalog's {row.SizeBytes}";
            }

            string sha;
            await using (var stream = File.OpenRead(temp))
            {
                sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
            }

            if (sha != row.Sha256)
            {
                return $"SHA-256 {sha} differs from the catalog's {row.Sha256}";
            }

            try
            {
                using var zip = ZipFile.OpenRead(temp);
                if (zip.GetEntry(row.ContainedFileName) is null)
                {
                    return $"the zip does not contain {row.ContainedFileName}";
                }
            }
            catch (InvalidDataException e)
            {
                return $"not a readable zip: {e.Message}";
            }

            return null;
        }
        finally
        {
            File.Delete(temp);
        }
    }
}

internal sealed record VerifyReport(int Files, long Bytes, IReadOnlyList<string> Problems, IReadOnlyList<string> Warnings)
{
    /// <summary>Files whose records were re-fingerprinted from the file itself (every format with a reader).</summary>
    public int FingerprintedFiles { get; init; }

    /// <summary>(start, later generation) pairs whose replayed fingerprint was compared with the manifest.</summary>
    public int Replays { get; init; }

    public bool Ok => Problems.Count == 0;
}
