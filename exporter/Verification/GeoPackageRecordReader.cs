using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using BulkExport.Publishing.Verification;
using Microsoft.Data.Sqlite;

namespace BulkExport.Exporter.Verification;

/// <summary>
/// GPKG: rebuilds each row's JSON object from the GeoPackage itself, through SQLite queries (not the
/// writer's code): the one table of <c>gpkg_contents</c> in feature-id order, every column but the
/// feature id. Typed by the declared column types: INTEGER a number, BOOLEAN a boolean, REAL/DOUBLE
/// a number (shortest round-trip text; a decimal with the scale its <c>numeric(p,s)</c> gives, when
/// <see cref="RecordSource.Types"/> knows it), TEXT/DATE/DATETIME a string unless the types say JSON,
/// array or decimal, BLOB base64, and the geometry column's GeoPackage binary (header + WKB) GeoJSON
/// in the srs_id of <c>gpkg_geometry_columns</c>.
/// </summary>
internal sealed class GeoPackageRecordReader : IPublishedRecordReader
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    public IReadOnlyList<string> Formats { get; } = ["GPKG"];

    public string RecordsLabel => "row(s) with fid";

    public bool UsesColumnTypes => true;

    public bool SpellsCrs => true;

    /// <remarks>A NaN never gets this far: Microsoft.Data.Sqlite refuses to bind one, so the run fails while writing.</remarks>
    public string Caveat => "the exporter's GeoPackage holds no negative zero (SQLite keeps a REAL -0.0 as the integer 0), so such values read back unlike the JSON formats' spelling";

    public async IAsyncEnumerable<PublishedRecord> ReadAsync(RecordSource source, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var file = source.Row.ContainedFileName;
        var temp = Path.Combine(Path.GetTempPath(), $"bulkexport-verify-{Guid.NewGuid():N}.gpkg");
        try
        {
            await using (var input = PublishedRecordReaders.DataEntry(source).Open())
            await using (var output = File.Create(temp))
            {
                await input.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
            }

            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = temp, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            Layout layout;
            try
            {
                connection.Open();
                layout = ReadLayout(connection, file);
            }
            catch (SqliteException e)
            {
                throw new InvalidDataException($"{file}: not a readable GeoPackage: {e.Message}", e);
            }

            // TEXT is shared by text, uuids, JSON, arrays and long decimals; REAL is the writer's decimal with its scale dropped.
            source.UntypedColumns.UnionWith(layout.Columns.Where(c => c.Name != layout.GeometryColumn && c.Type.Split('(')[0].Trim() is "TEXT" or "REAL" && source.Types?.For(c.Name) is null).Select(c => c.Name));
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {Quote(layout.Fid)}, {string.Join(", ", layout.Columns.Select(c => Quote(c.Name)))} FROM {Quote(layout.Table)} ORDER BY {Quote(layout.Fid)}";
            using var reader = command.ExecuteReader();
            var buffer = new ArrayBufferWriter<byte>(512);
            while (Read(reader, file))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var fid = reader.GetInt64(0);
                buffer.ResetWrittenCount();
                using (var json = new Utf8JsonWriter(buffer, WriterOptions))
                {
                    json.WriteStartObject();
                    for (var i = 0; i < layout.Columns.Count; i++)
                    {
                        var (name, type) = layout.Columns[i];
                        json.WritePropertyName(name);
                        try
                        {
                            WriteValue(json, reader.GetValue(i + 1), name, type, layout, source.Types?.For(name), source.CrsMember);
                        }
                        catch (FormatException e)
                        {
                            throw new InvalidDataException($"{file}: {layout.Table} fid {fid}: column '{name}' ({type}): {e.Message}", e);
                        }
                    }

                    json.WriteEndObject();
                }

                yield return new PublishedRecord(fid, buffer.WrittenSpan.ToArray());
            }
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private sealed record Layout(string Table, string Fid, List<(string Name, string Type)> Columns, string? GeometryColumn, int? Srid);

    private static bool Read(SqliteDataReader reader, string file)
    {
        try
        {
            return reader.Read();
        }
        catch (SqliteException e)
        {
            throw new InvalidDataException($"{file}: not a readable GeoPackage: {e.Message}", e);
        }
    }

    /// <summary>The data table of <c>gpkg_contents</c>, its feature id, columns and geometry column.</summary>
    private static Layout ReadLayout(SqliteConnection connection, string file)
    {
        var tables = Query(connection, "SELECT table_name FROM gpkg_contents", r => r.GetString(0));
        if (tables.Count != 1)
        {
            throw new InvalidDataException($"{file}: gpkg_contents lists {tables.Count} tables, the exporter writes one");
        }

        var table = tables[0];
        var geometry = Query(connection, $"SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = {Literal(table)}", r => (Name: r.GetString(0), Srid: r.GetInt32(1)));
        var info = Query(connection, $"PRAGMA table_info({Quote(table)})", r => (Name: r.GetString(1), Type: r.GetString(2), Pk: r.GetInt32(5)));
        var fid = info.Where(c => c.Pk == 1).Select(c => c.Name).SingleOrDefault()
            ?? throw new InvalidDataException($"{file}: table {table} has no single INTEGER PRIMARY KEY feature id");
        return new Layout(
            table,
            fid,
            [.. info.Where(c => c.Pk == 0).Select(c => (c.Name, c.Type.ToUpperInvariant()))],
            geometry.Count == 1 ? geometry[0].Name : null,
            geometry.Count == 1 ? geometry[0].Srid : null);
    }

    private static List<T> Query<T>(SqliteConnection connection, string sql, Func<SqliteDataReader, T> read)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var list = new List<T>();
        while (reader.Read())
        {
            list.Add(read(reader));
        }

        return list;
    }

    private static void WriteValue(Utf8JsonWriter json, object value, string name, string type, Layout layout, CsvRecordReader.DdlColumn? column, bool crsMember)
    {
        if (value is DBNull)
        {
            json.WriteNullValue();
            return;
        }

        if (name == layout.GeometryColumn)
        {
            var blob = value as byte[] ?? throw new FormatException($"a {value.GetType().Name}, not a GeoPackage geometry blob");
            WriteGeometry(json, blob, layout.Srid, crsMember);
            return;
        }

        var baseType = type.Split('(')[0].Trim();
        switch (baseType)
        {
            case "BOOLEAN":
                json.WriteBooleanValue(value switch
                {
                    1L => true,
                    0L => false,
                    _ => throw new FormatException($"{Show(value)} is not 0 or 1"),
                });
                break;
            case "INTEGER" or "INT" or "TINYINT" or "SMALLINT" or "MEDIUMINT" or "BIGINT":
                json.WriteRawValue(value is long l ? l.ToString(CultureInfo.InvariantCulture) : throw new FormatException($"{Show(value)} is not an integer"), skipInputValidation: true);
                break;
            case "REAL" or "DOUBLE" or "FLOAT":
                WriteReal(json, value, column);
                break;
            case "TEXT" or "DATE" or "DATETIME":
                ColumnTypes.WriteText(json, column, value as string ?? throw new FormatException($"{Show(value)} is not text"));
                break;
            case "BLOB":
                json.WriteBase64StringValue(value as byte[] ?? throw new FormatException($"{Show(value)} is not a blob"));
                break;
            default:
                throw new FormatException($"type {type} is not one the exporter writes");
        }
    }

    /// <summary>A REAL: a decimal with its column's scale (numeric(p,s) stored as a double), else the shortest round-trip text; non-finite values as the JSON formats' strings.</summary>
    private static void WriteReal(Utf8JsonWriter json, object value, CsvRecordReader.DdlColumn? column)
    {
        if (value is string text && text is "NaN" or "Infinity" or "-Infinity")
        {
            json.WriteStringValue(text);
            return;
        }

        var d = value switch
        {
            double x => x,
            long x => x,
            _ => throw new FormatException($"{Show(value)} is not a number"),
        };
        if (!double.IsFinite(d))
        {
            json.WriteStringValue(double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
            return;
        }

        if (column is { Kind: CsvRecordReader.Kind.Decimal } && Scale(column.SqlType) is { } scale)
        {
            json.WriteRawValue(d.ToString("F" + scale.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture), skipInputValidation: true);
            return;
        }

        json.WriteRawValue(d.ToString("R", CultureInfo.InvariantCulture), skipInputValidation: true);
    }

    /// <summary>The s of <c>numeric(p,s)</c> (0 for <c>numeric(p)</c>); null without modifiers.</summary>
    private static int? Scale(string sqlType)
    {
        var open = sqlType.IndexOf('(', StringComparison.Ordinal);
        var close = sqlType.IndexOf(')', StringComparison.Ordinal);
        if (open < 0 || close < open)
        {
            return null;
        }

        var parts = sqlType[(open + 1)..close].Split(',', StringSplitOptions.TrimEntries);
        return parts.Length == 1 ? 0 : int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : null;
    }

    /// <summary>GeoPackage binary (1.3, 2.1.3): "GP", version, flags (envelope kind, empty, byte order), srs_id, envelope, then standard WKB.</summary>
    internal static void WriteGeometry(Utf8JsonWriter json, ReadOnlySpan<byte> blob, int? srid, bool crsMember)
    {
        if (blob.Length < 8 || blob[0] != (byte)'G' || blob[1] != (byte)'P')
        {
            throw new FormatException("the blob does not start with a GeoPackage binary header ('GP')");
        }

        if (blob[2] != 0)
        {
            throw new FormatException($"GeoPackage binary version {blob[2]}, not 0 (version 1)");
        }

        var flags = blob[3];
        if ((flags & 0x20) != 0)
        {
            throw new FormatException("an extended GeoPackage geometry type");
        }

        var envelope = ((flags >> 1) & 0x07) switch
        {
            0 => 0,
            1 => 32,
            2 or 3 => 48,
            4 => 64,
            var e => throw new FormatException($"envelope indicator {e} is not 0-4"),
        };
        var headerSrid = (flags & 1) == 1 ? BinaryPrimitives.ReadInt32LittleEndian(blob[4..]) : BinaryPrimitives.ReadInt32BigEndian(blob[4..]);
        if (srid is { } expected && headerSrid != expected)
        {
            throw new FormatException($"the geometry's srs_id {headerSrid} differs from gpkg_geometry_columns' {expected}");
        }

        if (blob.Length < 8 + envelope)
        {
            throw new FormatException("the blob ends inside its envelope");
        }

        WkbToGeoJson.Write(blob[(8 + envelope)..], crsMember ? headerSrid : null, json);
    }

    private static string Show(object value) => value is string s ? $"'{(s.Length > 40 ? s[..40] + "..." : s)}'" : $"a {value.GetType().Name}";

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";
}
