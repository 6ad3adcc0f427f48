using System.Buffers;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Formats;

/// <summary>Rows covering every column kind, and helpers to encode and read back.</summary>
internal static class FormatTestData
{
    public static readonly Column[] AllKinds =
    [
        new("text", ColumnKind.Text),
        new("int", ColumnKind.Integer),
        new("dec", ColumnKind.Decimal),
        new("float", ColumnKind.Float),
        new("bool", ColumnKind.Boolean),
        new("date", ColumnKind.Date),
        new("ts", ColumnKind.Timestamp),
        new("tstz", ColumnKind.TimestampTz),
        new("uuid", ColumnKind.Uuid),
        new("json", ColumnKind.Json),
        new("bytes", ColumnKind.Bytes),
        new("geom", ColumnKind.Geometry),
        new("arr", ColumnKind.Array, ElementKind: ColumnKind.Text),
        new("ints", ColumnKind.Array, ElementKind: ColumnKind.Integer),
    ];

    public static readonly Guid SampleGuid = Guid.Parse("6F9619FF-8B86-D011-B42D-00C04FC964FF");

    public static object?[] SampleRow() =>
    [
        "Æblevej 3, \"st.\"\r\nKøbenhavn",
        -9_007_199_254_740_993L,
        new DecimalText("12345678901234567890.000000000000000001"),
        0.1,
        true,
        new DateOnly(2024, 2, 29),
        new DateTime(2024, 3, 1, 13, 14, 15, DateTimeKind.Unspecified).AddTicks(1_234_567),
        new DateTimeOffset(2024, 3, 1, 13, 14, 15, TimeSpan.FromHours(2)),
        SampleGuid,
        new RawJson("{\"a\":[1,2,{\"b\":null}],\"c\":\"x,y\"}"),
        new byte[] { 0, 1, 2, 250, 255 },
        new GeometryValue("{\"type\":\"Point\",\"coordinates\":[12.5,55.7]}", "POINT(12.5 55.7)", 4326),
        new object?[] { "a b", null, "", "NULL", "q\"uote", "back\\slash", "{brace}", "plain" },
        new object?[] { 1L, 2L, null },
    ];

    public static object?[] NullRow() => new object?[AllKinds.Length];

    public static byte[] Encode(IOutputFormat format, IReadOnlyList<Column> columns, params object?[][] rows)
    {
        var output = new ArrayBufferWriter<byte>();
        var encoder = ((IStreamedFormat)format).CreateEncoder(new FormatSchema("T", columns, [], null));
        var view = new ObjectRowView(columns);
        encoder.WriteHeader(output);
        foreach (var row in rows)
        {
            encoder.WriteRecord(view.Reset(row), output);
        }

        encoder.WriteFooter(output);
        return output.WrittenSpan.ToArray();
    }

    public static string EncodeText(IOutputFormat format, IReadOnlyList<Column> columns, params object?[][] rows) =>
        Encoding.UTF8.GetString(Encode(format, columns, rows));

    /// <summary>Entries of a zip as name → content, read with System.IO.Compression.</summary>
    public static Dictionary<string, byte[]> ReadZip(string path)
    {
        using var archive = ZipFile.OpenRead(path);
        var entries = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var entry in archive.Entries)
        {
            using var stream = entry.Open();
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            Assert.Equal(entry.Length, copy.Length);
            entries[entry.FullName] = copy.ToArray();
        }

        return entries;
    }

    /// <summary>Runs Info-ZIP's <c>unzip -t</c>, which checks every CRC and the directory structure.</summary>
    public static string UnzipTest(string path)
    {
        var start = new ProcessStartInfo("unzip", ["-t", path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("These tests need Info-ZIP's unzip on PATH (apt-get install unzip).", e);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEnd();
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"unzip -t failed ({process.ExitCode}):\n{stdout}\n{stderr}");
            return stdout;
        }
    }
}

/// <summary>A strict RFC 4180 reader for the tests: quoted fields, doubled quotes, CRLF only; null = empty unquoted.</summary>
internal static class TestCsv
{
    public static List<List<string?>> Parse(string text)
    {
        var records = new List<List<string?>>();
        var record = new List<string?>();
        var i = 0;
        while (i < text.Length)
        {
            string? field;
            if (text[i] == '"')
            {
                var sb = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw new FormatException("Unterminated quote.");
                    }

                    if (text[i] == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"')
                        {
                            sb.Append('"');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    sb.Append(text[i++]);
                }

                field = sb.ToString();
            }
            else
            {
                var start = i;
                while (i < text.Length && text[i] != ',' && text[i] != '\r')
                {
                    if (text[i] is '"' or '\n')
                    {
                        throw new FormatException($"Unquoted special character at {i}.");
                    }

                    i++;
                }

                field = i == start ? null : text[start..i];
            }

            record.Add(field);
            if (i < text.Length && text[i] == ',')
            {
                i++;
                continue;
            }

            if (i + 1 < text.Length && text[i] == '\r' && text[i + 1] == '\n')
            {
                i += 2;
                records.Add(record);
                record = [];
                continue;
            }

            throw new FormatException($"Expected comma or CRLF at {i}.");
        }

        Assert.Empty(record);
        return records;
    }
}

/// <summary>A temp directory deleted with the test.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bulkexport-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string[] Files() => Directory.GetFiles(Path);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory must not fail the test that produced it.
        }
    }
}
