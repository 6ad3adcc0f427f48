using System.Buffers;
using BulkExport.Api;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// One output format: how the rows of one entity become ONE data file. Everything after the file
/// (splitting into parts by size or records, deflating into the zip, hashing, publishing) is the
/// same for every format and lives in <see cref="DataFileSetWriter"/> and the pipeline.
/// A format is either <see cref="IStreamedFormat"/> (bytes appended front to back: JSON, JSONL,
/// CSV, GEOJSON) or <see cref="IFileFormat"/> (writes a seekable temporary file it may revisit:
/// an SQLite GeoPackage, Parquet's row groups and footer, GML's envelope).
/// </summary>
internal interface IOutputFormat
{
    /// <summary>Format name as it appears in <c>spec.output.formats</c>, file names and the catalog.</summary>
    string Name { get; }

    /// <summary>Extension of the data file inside the zip, without the dot.</summary>
    string Extension { get; }

    /// <summary>
    /// Which entities the format takes. Declared in <see cref="OutputFormats"/> (the API library) so the
    /// schedule validator, which the operator also runs, names the offending field without knowing the format.
    /// </summary>
    GeometryRule Geometry => OutputFormats.Rule(Name).Geometry;

    /// <summary>Files zipped beside every part's data file (CSV's DDL, GML's XSD), keyed by extension; their bytes depend only on the schema.</summary>
    IReadOnlyList<CompanionFile> CompanionFiles(FormatSchema schema);
}

/// <summary>A format whose file is appended front to back. Splitting is exact: a record that would overflow a part is withdrawn and starts the next.</summary>
internal interface IStreamedFormat : IOutputFormat
{
    IRecordEncoder CreateEncoder(FormatSchema schema);
}

/// <summary>
/// Encodes the records of one data file (one part). Output is deterministic: the same rows give the
/// same bytes, which is what lets an unchanged total be re-issued instead of rewritten.
/// </summary>
internal interface IRecordEncoder
{
    void WriteHeader(IBufferWriter<byte> output);

    /// <summary>Appends one record (and the separator before it). May be called again for the same row in a fresh encoder when the part rolls.</summary>
    void WriteRecord(IRowView row, IBufferWriter<byte> output);

    /// <summary>
    /// Ends the file. Its bytes must not depend on the records written: the part splitter measures
    /// the footer once and reserves that much room in every part.
    /// </summary>
    void WriteFooter(IBufferWriter<byte> output);
}

/// <summary>
/// A format that needs its data file whole before it is final (it seeks, or writes an index or footer
/// at the end). The set writer gives it a fresh temporary path per part; after <see cref="IDataFileWriter.Finish"/>
/// the file is zipped, hashed and deleted like a streamed part.
/// </summary>
internal interface IFileFormat : IOutputFormat
{
    /// <summary>
    /// Zip method of the data file: deflated (the default), or stored for a file whose pages are
    /// compressed already (Parquet's zstd pages: deflating them again costs CPU and gains nothing).
    /// </summary>
    bool DeflateInZip => true;

    /// <summary>
    /// Null (the default): the content id (<see cref="DataFileSet.ContentSha256"/>) is the SHA-256 of the
    /// data files' bytes, as for a streamed format. Not null: the file's bytes carry the generation
    /// (GeoPackage's <c>gpkg_contents.last_change</c>), so equal rows give equal bytes only within one
    /// generation; the content id is then taken over the rows' digests in order, the part boundaries
    /// and this text, which names every setting that changes the bytes for the same rows (codec,
    /// row-group size, CRS). Equal ids still mean the same rows in the same parts written the same
    /// way, so an unchanged total is re-issued as the earlier file.
    /// </summary>
    string? ContentSettings => null;

    /// <param name="schema">Columns, table name, key, geometry of the entity.</param>
    /// <param name="path">A path that does not exist yet, in the run's temp directory; the writer creates the file.</param>
    IDataFileWriter CreateWriter(FormatSchema schema, string path);
}

/// <summary>Writes one part's data file. Not thread-safe; called from the entity's writer thread only.</summary>
internal interface IDataFileWriter : IDisposable
{
    /// <summary>Adds one record. The view and its spans are valid only during the call.</summary>
    void Write(IRowView row);

    /// <summary>
    /// Size the file would have if finished now (footer included), as well as the format can tell
    /// cheaply (e.g. bytes appended plus a pending row group's estimate). The splitter rolls to a new
    /// part before a record when this plus the part's mean record size would pass <c>maxUncompressedBytes</c>,
    /// so a non-streamed part can end slightly above the limit by at most the estimate's error.
    /// </summary>
    long EstimatedBytes { get; }

    /// <summary>Completes and closes the file (footer, index, commit). Nothing is written to it afterwards.</summary>
    void Finish();
}

/// <param name="TableName">The entity name (for a DDL's table, a GeoPackage table, a GML feature type).</param>
/// <param name="Columns">The columns every row view has, in order.</param>
/// <param name="KeyColumns">The entity's key (identity); empty for none.</param>
/// <param name="GeometryColumn">Index of the entity's geometry column (<c>spec.entities[].geometry.column</c>), or null.</param>
internal sealed record FormatSchema(string TableName, IReadOnlyList<Column> Columns, IReadOnlyList<string> KeyColumns, int? GeometryColumn)
{
    /// <summary>The declared geometry column, else the first column of kind Geometry, else null.</summary>
    public int? GeometryOrFirst
    {
        get
        {
            if (GeometryColumn is { } declared)
            {
                return declared;
            }

            for (var i = 0; i < Columns.Count; i++)
            {
                if (Columns[i].Kind == ColumnKind.Geometry)
                {
                    return i;
                }
            }

            return null;
        }
    }
}

internal sealed record CompanionFile(string Extension, byte[] Content);

/// <summary>What the pipeline writes one output group (one format, one type of data) through: <see cref="DataFileSetWriter"/>.</summary>
internal interface IDataFileSetWriter : IDisposable
{
    /// <summary>Uncompressed bytes written so far, for progress reporting.</summary>
    long UncompressedBytes { get; }

    /// <summary>Appends a row; <paramref name="digest"/> is its <c>RowDigest</c>. The view is valid only during the call.</summary>
    void Write(IRowView row, ReadOnlySpan<byte> digest);

    /// <summary>A row of boxed values, for callers that still move such rows.</summary>
    void Write(object?[] row, ReadOnlySpan<byte> digest);

    DataFileSet Complete();
}

/// <summary>
/// A format configured per entity (its CRS, the generation's time, a codec): the registry holds a
/// prototype, the pipeline asks it for the entity's instance.
/// </summary>
internal interface IEntityConfiguredFormat
{
    IOutputFormat For(Geo.EntityGeometry entity, DateTimeOffset pointInTime, string parquetCompression);
}
