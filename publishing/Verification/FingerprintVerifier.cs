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
/// Checks content fingerprints the way a consumer would, from the published files alone: every file's
/// records, rebuilt as JSON rows by its format's reader (<see cref="PublishedRecordReaders"/>), sum to
/// the fingerprint and record count its catalog row states; the formats of a group state the same
/// fingerprint; and for every start
/// point (a live total, or a re-base delta) and every later generation, start + deltas replayed by
/// identity give the entity fingerprint that generation's manifest records.
/// </summary>
/// <remarks>
/// The replay holds no dictionary of rows: every record becomes (identity, generation, operation,
/// digest), an external sort groups them by identity in generation order, and the last record at or
/// before each checkpoint decides what that identity contributes. Memory is the sort's budget.
/// </remarks>
internal sealed class FingerprintVerifier(IObjectStore store, PublishedRecordReaders? readers = null, IReadOnlyDictionary<string, string>? geometryColumns = null)
{
    private const byte Upsert = 1;
    private const byte Delete = 2;

    /// <summary>The formats replays read, in order of preference: the cheapest to parse first.</summary>
    private static readonly string[] ReplayFormats = ["JSONL", "JSON", "CSV", "GEOJSON"];

    private readonly PublishedRecordReaders _readers = readers ?? PublishedRecordReaders.Default;
    private readonly Dictionary<string, string?> _geometryColumns = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ColumnTypes?> _csvTypes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedSet<string>> _untyped = new(StringComparer.Ordinal);
    private readonly HashSet<string> _withoutCrs = new(StringComparer.Ordinal);
    private Dictionary<string, IReadOnlyList<string>> _identities = new(StringComparer.Ordinal);
    private Catalog _catalog = new();

    public int FilesChecked { get; private set; }

    public int ReplaysChecked { get; private set; }

    public async Task VerifyAsync(Catalog catalog, IReadOnlyList<GenerationManifest> committed, List<string> problems, List<string> warnings, CancellationToken cancellationToken)
    {
        _catalog = catalog;
        _identities = committed.SelectMany(m => m.Entities).Where(e => e.Identity is { Count: > 0 })
            .GroupBy(e => e.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Last().Identity!, StringComparer.Ordinal);
        foreach (var row in catalog.Files.Where(r => r.Fingerprint is not null))
        {
            if (_readers.For(row.ContainedFileFormat) is null)
            {
                warnings.Add($"{row.Key}: no reader for format {row.ContainedFileFormat}, so its fingerprint is only compared with the other formats of its generation");
                continue;
            }

            FingerprintSum sum;
            try
            {
                sum = await SumAsync(row, cancellationToken).ConfigureAwait(false);
                if ((sum.ToHex() != row.Fingerprint || sum.Count != row.RecordCount) && _readers.For(row.ContainedFileFormat)!.SpellsCrs)
                {
                    // The other GeoJSON spelling of the file's CRS (see RecordSource.CrsMember).
                    _withoutCrs.Add(row.Key);
                    var other = await SumAsync(row, cancellationToken).ConfigureAwait(false);
                    if (other.ToHex() == row.Fingerprint && other.Count == row.RecordCount)
                    {
                        sum = other;
                    }
                    else
                    {
                        _withoutCrs.Remove(row.Key);
                    }
                }
            }
            catch (Exception e) when (e is InvalidDataException or JsonException or DecoderFallbackException)
            {
                problems.Add($"{row.Key}: {e.Message}");
                continue;
            }

            FilesChecked++;
            if (sum.ToHex() != row.Fingerprint || sum.Count != row.RecordCount)
            {
                problems.Add($"{row.Key}: its {sum.Count} records have fingerprint {sum.ToHex()}, the catalog says {row.RecordCount} records with {row.Fingerprint}{await LocateAsync(row, cancellationToken).ConfigureAwait(false)}{Caveats(row)}");
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

    /// <summary>
    /// Where a file whose sum is wrong differs: its records compared by digest with another format's
    /// file of the same records (same entity, generation, type of data and part), naming the records
    /// whose rows that file does not hold and, for those whose identity the other file holds with
    /// other values, the columns that differ. Empty when there is no such file.
    /// </summary>
    private async Task<string> LocateAsync(CatalogRow row, CancellationToken cancellationToken)
    {
        var twin = _catalog.Files.FirstOrDefault(r => r.ContainedFileFormat != row.ContainedFileFormat && r.EntityName == row.EntityName
            && r.GenerationNumber == row.GenerationNumber && r.TypeOfDownload == row.TypeOfDownload && r.TypeOfData == row.TypeOfData
            && r.Part == row.Part && r.PartCount == row.PartCount && r.Fingerprint == row.Fingerprint && _readers.For(r.ContainedFileFormat) is not null);
        if (twin is null)
        {
            return "";
        }

        try
        {
            var expected = new Dictionary<string, int>(StringComparer.Ordinal);
            await foreach (var record in ReadRecordsAsync(twin, cancellationToken).ConfigureAwait(false))
            {
                var digest = Convert.ToHexString(CanonicalJson.RowDigest(record.RowJson));
                expected[digest] = expected.GetValueOrDefault(digest) + 1;
            }

            var unmatched = new List<(long Line, byte[] Row)>();
            await foreach (var record in ReadRecordsAsync(row, cancellationToken).ConfigureAwait(false))
            {
                var digest = Convert.ToHexString(CanonicalJson.RowDigest(record.RowJson));
                if (expected.GetValueOrDefault(digest) > 0)
                {
                    expected[digest]--;
                }
                else if (unmatched.Count < 10)
                {
                    unmatched.Add((record.Line, record.RowJson));
                }
            }

            if (unmatched.Count == 0)
            {
                return "";
            }

            var label = _readers.For(row.ContainedFileFormat)!.RecordsLabel;
            return $"; {row.ContainedFileName} {label} {string.Join(", ", unmatched.Select(u => u.Line))} hold rows that {twin.ContainedFileName} does not{await DifferencesAsync(row, twin, unmatched, expected, cancellationToken).ConfigureAwait(false)}";
        }
        catch (Exception e) when (e is InvalidDataException or JsonException or DecoderFallbackException)
        {
            return "";
        }
    }

    /// <summary>For each unmatched record whose identity the twin holds in a row the file lacks: the columns whose values differ.</summary>
    private async Task<string> DifferencesAsync(CatalogRow row, CatalogRow twin, List<(long Line, byte[] Row)> unmatched, Dictionary<string, int> twinLeft, CancellationToken cancellationToken)
    {
        if (_identities.GetValueOrDefault(row.EntityName) is not { } identity)
        {
            return "";
        }

        string Key(JsonObject o) => string.Join("\u0000", identity.Select(c => CanonicalJson.Format(Encoding.UTF8.GetBytes(o[c]?.ToJsonString() ?? "null"))));
        var wanted = unmatched.Select(u => (u.Line, Row: JsonNode.Parse(u.Row)!.AsObject())).ToList();
        var keys = wanted.Select(w => Key(w.Row)).ToHashSet(StringComparer.Ordinal);
        var theirs = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        await foreach (var record in ReadRecordsAsync(twin, cancellationToken).ConfigureAwait(false))
        {
            var digest = Convert.ToHexString(CanonicalJson.RowDigest(record.RowJson));
            if (twinLeft.GetValueOrDefault(digest) > 0 && JsonNode.Parse(record.RowJson) is JsonObject other && keys.Contains(Key(other)))
            {
                theirs.TryAdd(Key(other), other);
            }
        }

        var notes = new List<string>();
        foreach (var (line, mine) in wanted)
        {
            if (!theirs.TryGetValue(Key(mine), out var other))
            {
                continue;
            }

            var columns = mine.Select(p => p.Key).Union(other.Select(p => p.Key), StringComparer.Ordinal)
                .Where(c => Canonical(mine[c]) != Canonical(other[c]))
                .Select(c => $"column '{c}' is {Shorten(Canonical(mine[c]))} here, {Shorten(Canonical(other[c]))} in {twin.ContainedFileFormat}");
            notes.Add($"{line}: {string.Join(", ", columns)}");
        }

        return notes.Count == 0 ? "" : $" ({string.Join("; ", notes)})";

        static string Canonical(JsonNode? node) => CanonicalJson.Format(Encoding.UTF8.GetBytes(node?.ToJsonString() ?? "null"));
        static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";
    }

    /// <summary>What the file's format cannot hold, and whether its text columns were typed, for a mismatch message.</summary>
    private string Caveats(CatalogRow row)
    {
        var reader = _readers.For(row.ContainedFileFormat);
        var notes = new List<string>();
        if (reader?.Caveat is { } caveat)
        {
            notes.Add(caveat);
        }

        if (_untyped.GetValueOrDefault(row.Key) is { Count: > 0 } untyped)
        {
            notes.Add($"no CREATE TABLE (in the zip or a CSV file of {row.EntityName}) typed column(s) {string.Join(", ", untyped.Select(c => $"'{c}'"))}, whose file type JSON, arrays and decimals share with text: they were read as strings (a GPKG REAL as a number without its decimal scale)");
        }

        return notes.Count == 0 ? "" : $" ({string.Join("; ", notes)})";
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
            var rows = catalog.Files.Where(r => r.EntityName == entity.Name && r.TypeOfData == typeOfData).ToList();
            var formats = rows.Select(r => r.ContainedFileFormat).Distinct(StringComparer.Ordinal).ToList();
            var format = ReplayFormats.FirstOrDefault(formats.Contains) ?? formats.FirstOrDefault(f => _readers.For(f) is not null);
            if (format is null)
            {
                continue;
            }

            rows = [.. rows.Where(r => r.ContainedFileFormat == format)];
            var starts = rows
                .Where(r => r.Part == 1 && (r.TypeOfDownload == FileNaming.TotalDownload || r.Rebase == true))
                .Select(r => (r.GenerationNumber, r.TypeOfDownload))
                .Distinct()
                .OrderBy(s => s.GenerationNumber)
                .ToList();
            foreach (var (start, kind) in starts)
            {
                try
                {
                    await ReplayAsync(entity.Name, identity, start, kind, rows, committed, problems, warnings, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is InvalidDataException or JsonException or DecoderFallbackException)
                {
                    // The file was reported by the file check already; the replay cannot go on without it.
                    problems.Add($"{entity.Name}: replay from generation {start} stopped: {e.Message}");
                }
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
                        var row = JsonNode.Parse(record.RowJson)?.AsObject() ?? throw new InvalidDataException($"{file.ContainedFileName}:{record.Line}: a record is not an object");
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

    private static string Sum(IEnumerable<string> fingerprints)
    {
        var sum = default(FingerprintSum);
        foreach (var f in fingerprints)
        {
            sum.Add(FingerprintSum.Parse(f));
        }

        return sum.ToHex();
    }

    private async Task<FingerprintSum> SumAsync(CatalogRow row, CancellationToken cancellationToken)
    {
        var sum = default(FingerprintSum);
        await foreach (var record in ReadRecordsAsync(row, cancellationToken).ConfigureAwait(false))
        {
            sum.Add(CanonicalJson.RowDigest(record.RowJson));
        }

        return sum;
    }

    /// <summary>The records of a published file, rebuilt as JSON row objects by its format's reader.</summary>
    private async IAsyncEnumerable<PublishedRecord> ReadRecordsAsync(CatalogRow row, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var reader = _readers.For(row.ContainedFileFormat) ?? throw new InvalidDataException($"{row.Key}: no reader for format {row.ContainedFileFormat}");
        var geometry = row.ContainedFileFormat.Equals("GEOJSON", StringComparison.OrdinalIgnoreCase)
            ? await GeometryColumnAsync(row.EntityName, cancellationToken).ConfigureAwait(false)
            : null;
        var temp = await DownloadAsync(row, cancellationToken).ConfigureAwait(false);
        try
        {
            using var zip = ZipFile.OpenRead(temp);
            ColumnTypes? types = null;
            if (reader.UsesColumnTypes)
            {
                types = await ColumnTypes.FromZipAsync(zip, row.ContainedFileName, cancellationToken).ConfigureAwait(false)
                    ?? await CsvTypesAsync(row, cancellationToken).ConfigureAwait(false);
            }

            var source = new RecordSource(zip, row, geometry, types, CrsMember: !_withoutCrs.Contains(row.Key));
            _untyped[row.Key] = source.UntypedColumns;
            await foreach (var record in reader.ReadAsync(source, cancellationToken).ConfigureAwait(false))
            {
                yield return record;
            }
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>The entity's geometry column: from the schedule, else the first geometry column of one of its CSV files' DDL.</summary>
    private async Task<string?> GeometryColumnAsync(string entity, CancellationToken cancellationToken)
    {
        if (geometryColumns?.GetValueOrDefault(entity) is { Length: > 0 } configured)
        {
            return configured;
        }

        if (_geometryColumns.TryGetValue(entity, out var known))
        {
            return known;
        }

        var csv = _catalog.Files.FirstOrDefault(r => r.EntityName == entity && r.ContainedFileFormat == "CSV");
        var found = csv is null ? null : (await CsvDdlAsync(csv, cancellationToken).ConfigureAwait(false))?.Columns
            .FirstOrDefault(c => c.Kind == CsvRecordReader.Kind.Geometry && !c.IsArray)?.Name;
        _geometryColumns[entity] = found;
        return found;
    }

    /// <summary>The types of a CSV file of the same entity: of the same generation and download if there is one (the columns can change between generations), else the latest.</summary>
    private async Task<ColumnTypes?> CsvTypesAsync(CatalogRow row, CancellationToken cancellationToken)
    {
        var csv = _catalog.Files.Where(r => r.EntityName == row.EntityName && r.ContainedFileFormat == "CSV")
            .OrderByDescending(r => r.GenerationNumber == row.GenerationNumber && r.TypeOfDownload == row.TypeOfDownload)
            .ThenByDescending(r => r.GenerationNumber)
            .FirstOrDefault();
        return csv is null ? null : await CsvDdlAsync(csv, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The DDL companion of a CSV file, read once per file.</summary>
    private async Task<ColumnTypes?> CsvDdlAsync(CatalogRow csv, CancellationToken cancellationToken)
    {
        if (_csvTypes.TryGetValue(csv.Key, out var cached))
        {
            return cached;
        }

        ColumnTypes? types = null;
        var temp = await DownloadAsync(csv, cancellationToken).ConfigureAwait(false);
        try
        {
            using var zip = ZipFile.OpenRead(temp);
            types = await ColumnTypes.FromZipAsync(zip, csv.ContainedFileName, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(temp);
        }

        _csvTypes[csv.Key] = types;
        return types;
    }

    private async Task<string> DownloadAsync(CatalogRow row, CancellationToken cancellationToken)
    {
        var temp = Path.GetTempFileName();
        try
        {
            await using var input = await store.OpenReadAsync(row.Key, cancellationToken).ConfigureAwait(false);
            await using var output = File.Create(temp);
            await input.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
            return temp;
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
