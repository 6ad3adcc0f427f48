using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace BulkExport.Publishing.Verification;

/// <summary>
/// An entity's source column types from a <c>CREATE TABLE</c> (the CSV format's companion), by column
/// name. The structured formats type most columns themselves, but their text type is shared by text,
/// uuids, JSON, arrays (JSON text) and decimals too long for a double, whose JSON spellings differ;
/// this tells them apart, and gives a decimal's scale where a GeoPackage stored it as a REAL.
/// </summary>
internal sealed class ColumnTypes
{
    private readonly Dictionary<string, CsvRecordReader.DdlColumn> _byName;

    private ColumnTypes(List<CsvRecordReader.DdlColumn> columns, string origin)
    {
        Columns = columns;
        _byName = new Dictionary<string, CsvRecordReader.DdlColumn>(StringComparer.Ordinal);
        foreach (var column in columns)
        {
            _byName[column.Name] = column;
        }

        Origin = origin;
    }

    /// <summary>The columns in the DDL's order.</summary>
    public List<CsvRecordReader.DdlColumn> Columns { get; }

    /// <summary>Where the types come from, for messages.</summary>
    public string Origin { get; }

    public static ColumnTypes Parse(string ddl, string origin) => new(CsvRecordReader.ParseDdl(ddl, origin), origin);

    /// <summary>The <c>.sql</c> companion of <paramref name="dataFileName"/> in <paramref name="zip"/>, if the zip has one.</summary>
    public static async Task<ColumnTypes?> FromZipAsync(ZipArchive zip, string dataFileName, CancellationToken cancellationToken)
    {
        var name = Path.ChangeExtension(dataFileName, ".sql");
        if (zip.GetEntry(name) is not { } entry)
        {
            return null;
        }

        using var reader = new StreamReader(entry.Open(), Encoding.UTF8);
        return Parse(await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false), name);
    }

    public CsvRecordReader.DdlColumn? For(string column) => _byName.GetValueOrDefault(column);

    /// <summary>
    /// A value the file holds as text, as the JSON formats spell it: arrays and JSON columns are the
    /// JSON text itself, decimals a number (NaN and ±Infinity strings), everything else (and a column
    /// the types do not know) a string. Throws <see cref="FormatException"/> for text that breaks the type.
    /// </summary>
    public static void WriteText(Utf8JsonWriter json, CsvRecordReader.DdlColumn? column, string text)
    {
        if (column is null)
        {
            json.WriteStringValue(text);
            return;
        }

        if (column.IsArray || column.Kind == CsvRecordReader.Kind.Json)
        {
            try
            {
                json.WriteRawValue(text, skipInputValidation: false);
            }
            catch (Exception e) when (e is JsonException or ArgumentException)
            {
                throw new FormatException($"not JSON: {e.Message}", e);
            }

            return;
        }

        CsvRecordReader.WriteScalar(json, column, text);
    }
}
