// TEMPORARY: replaced by the formats branch at merge. Minimal JSONL-in-zip so the core compiles and runs.
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BulkExport.Exporter.Sources;

namespace BulkExport.Exporter.Formats;

internal sealed record DataFileSetOptions(Func<int, int, string> BaseName, string TableName, IReadOnlyList<string> KeyColumns, string TempDirectory, long MaxUncompressedBytes, long? MaxRecordsPerFile, DateTimeOffset Timestamp);
internal sealed record DataFileSet(IReadOnlyList<StagedFile> Files, string ContentSha256, long Records, long UncompressedBytes);
internal sealed record StagedFile(string FileName, string InnerFileName, string LocalPath, long SizeBytes, string Sha256, long Records, long UncompressedBytes, int Part, int PartCount);

internal static class RecordFormats
{
    public static IRecordFormat Get(string name) => new StubFormat(name);

    private sealed class StubFormat(string name) : IRecordFormat
    {
        public string Name => name;

        public string Extension => name.ToLowerInvariant();

        public IRecordEncoder CreateEncoder(IReadOnlyList<Column> columns) => throw new NotSupportedException();
    }
}

internal sealed class DataFileSetWriter(IRecordFormat format, IReadOnlyList<Column> columns, DataFileSetOptions options) : IDisposable
{
    private readonly MemoryStream _data = new();
    private long _records;

    public long UncompressedBytes => _data.Length;

    public void Write(object?[] row)
    {
        var dict = new Dictionary<string, object?>();
        for (var i = 0; i < columns.Count; i++)
        {
            dict[columns[i].Name] = row[i] switch { DecimalText d => d.Text, RawJson j => j.Json, var v => v };
        }

        var line = JsonSerializer.SerializeToUtf8Bytes(dict);
        _data.Write(line);
        _data.WriteByte((byte)'\n');
        _records++;
    }

    public DataFileSet Complete()
    {
        var baseName = options.BaseName(1, 1);
        var path = Path.Combine(options.TempDirectory, baseName + ".zip");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            var entry = zip.CreateEntry(baseName + "." + format.Extension);
            entry.LastWriteTime = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
            using var s = entry.Open();
            s.Write(_data.ToArray());
        }

        var bytes = File.ReadAllBytes(path);
        var content = Convert.ToHexStringLower(SHA256.HashData(_data.ToArray()));
        return new DataFileSet([new StagedFile(baseName + ".zip", baseName + "." + format.Extension, path, bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes)), _records, _data.Length, 1, 1)], content, _records, _data.Length);
    }

    public void Dispose() => _data.Dispose();
}
