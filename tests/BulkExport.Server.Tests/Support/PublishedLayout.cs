using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Stores;

namespace BulkExport.Server.Tests.Support;

/// <summary>
/// Writes a register's published layout (zips under {REG}/V{ver}/{Entity}/ and catalog.json) through
/// the real store, as the exporter leaves it; the server under test only ever reads it.
/// </summary>
internal sealed class PublishedLayout(IObjectStore store, string register)
{
    public static readonly DateTimeOffset Epoch = new(2026, 3, 7, 3, 0, 0, TimeSpan.Zero);

    private readonly List<CatalogRow> _rows = [];

    public IObjectStore Store { get; } = store;

    public string Register { get; } = register;

    public IReadOnlyList<CatalogRow> Rows => _rows;

    public Dictionary<string, byte[]> Bytes { get; } = new(StringComparer.Ordinal);

    public async Task<CatalogRow> AddAsync(string entity, string typeOfDownload, string typeOfData, string format, long generation, int version = 1, int part = 1, int partCount = 1, byte[]? content = null)
    {
        var baseName = FileNaming.BaseName(Register, version, entity, typeOfDownload, format, typeOfData, generation, part, partCount);
        var fileName = baseName + ".zip";
        content ??= Zip(baseName + "." + format.ToLowerInvariant(), $"{{\"generation\":{generation},\"entity\":\"{entity}\",\"part\":{part},\"padding\":\"{new string('x', 3000)}\"}}");
        var key = FileNaming.DataKey(Register, version, entity, fileName);
        await Store.PutBytesAsync(key, content, "application/zip", CancellationToken.None);
        var time = Epoch.AddDays(generation);
        var row = new CatalogRow
        {
            Filename = fileName,
            Register = Register,
            EntityName = entity,
            Frequency = typeOfDownload == FileNaming.TotalDownload ? "0 3 * * 6 (UTC)" : "0 3 * * * (UTC)",
            TypeOfDownload = typeOfDownload,
            TypeOfData = typeOfData,
            Version = version,
            GenerationNumber = generation,
            PointInTime = time.AddMinutes(-1),
            GenerationTime = time,
            ExpirationDate = time.AddDays(14),
            ContainedFileFormat = format,
            Key = key,
            SizeBytes = content.Length,
            Sha256 = Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant(),
            RecordCount = 1,
            // A synthetic file: any 64 hex digits stand for the fingerprint of its one record.
            Fingerprint = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(baseName))).ToLowerInvariant(),
            BaseGenerationNumber = typeOfDownload == FileNaming.DeltaDownload ? generation - 1 : null,
            ContainedGenerationNumber = generation,
            ContainedFileName = baseName + "." + format.ToLowerInvariant(),
            Part = part,
            PartCount = partCount,
        };
        _rows.Add(row);
        Bytes[fileName] = content;
        return row;
    }

    public Task PublishCatalogAsync()
    {
        var catalog = new Catalog
        {
            Register = Register,
            LatestGeneration = _rows.Count == 0 ? null : _rows.Max(r => r.GenerationNumber),
            GeneratedAt = Epoch.AddDays(30),
            Files = [.. _rows],
        };
        return Store.PutBytesAsync(FileNaming.CatalogKey(Register), catalog.ToBytes(), "application/json", CancellationToken.None);
    }

    public void Remove(CatalogRow row) => _rows.Remove(row);

    /// <summary>
    /// The sample used by most tests: Adresse with totals in generations 1 and 3 (V1) and 3 (V2),
    /// Husnummer whose generation-3 total is split into two parts, deltas in generations 1–3.
    /// </summary>
    public static async Task<PublishedLayout> SampleAsync(IObjectStore store, string register = "DAR")
    {
        var layout = new PublishedLayout(store, register);
        const string total = FileNaming.TotalDownload, delta = FileNaming.DeltaDownload;
        await layout.AddAsync("Adresse", total, "Bitemporal", "JSON", 1);
        await layout.AddAsync("Adresse", total, "Current", "JSON", 1);
        await layout.AddAsync("Adresse", delta, "Bitemporal", "JSON", 1);
        await layout.AddAsync("Adresse", delta, "Bitemporal", "JSON", 2);
        await layout.AddAsync("Adresse", total, "Current", "JSON", 3);
        await layout.AddAsync("Adresse", total, "Current", "CSV", 3);
        await layout.AddAsync("Adresse", delta, "Bitemporal", "JSON", 3);
        await layout.AddAsync("Adresse", total, "Current", "JSON", 3, version: 2);
        await layout.AddAsync("Husnummer", total, "Current", "JSON", 1);
        await layout.AddAsync("Husnummer", total, "Current", "JSON", 3, part: 1, partCount: 2);
        await layout.AddAsync("Husnummer", total, "Current", "JSON", 3, part: 2, partCount: 2);
        await layout.PublishCatalogAsync();
        return layout;
    }

    public static byte[] Zip(string entryName, string text)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            var entry = zip.CreateEntry(entryName, CompressionLevel.Optimal);
            using var stream = entry.Open();
            stream.Write(Encoding.UTF8.GetBytes(text));
        }

        return buffer.ToArray();
    }
}
