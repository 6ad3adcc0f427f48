using System.Buffers;
using BulkExport.Exporter.Sources;

namespace BulkExport.Exporter.Formats;

/// <summary>One output format (JSON, JSONL, CSV, GEOJSON): how rows become bytes of a data file.</summary>
internal interface IRecordFormat
{
    /// <summary>Format name as it appears in file names and the catalog: JSON, JSONL, CSV, GEOJSON.</summary>
    string Name { get; }

    /// <summary>Extension of the data file inside the zip, without the dot.</summary>
    string Extension { get; }

    IRecordEncoder CreateEncoder(IReadOnlyList<Column> columns);
}

/// <summary>
/// Encodes the rows of one data file (one part). Output is deterministic: the same rows give the
/// same bytes, which is what lets an unchanged total be re-issued instead of rewritten.
/// </summary>
internal interface IRecordEncoder
{
    void WriteHeader(IBufferWriter<byte> output);

    void WriteRecord(object?[] row, IBufferWriter<byte> output);

    /// <summary>
    /// Ends the file. Its bytes must not depend on the records written: the part splitter measures
    /// the footer once and reserves that much room in every part.
    /// </summary>
    void WriteFooter(IBufferWriter<byte> output);

    /// <summary>Files zipped beside the data file, e.g. the CSV's <c>CREATE TABLE</c> DDL, keyed by extension.</summary>
    /// <param name="tableName">The entity name, for the DDL's table.</param>
    /// <param name="keyColumns">The entity's key, for the DDL's PRIMARY KEY; empty for none.</param>
    IReadOnlyList<CompanionFile> CompanionFiles(string tableName, IReadOnlyList<string> keyColumns);
}

internal sealed record CompanionFile(string Extension, byte[] Content);
