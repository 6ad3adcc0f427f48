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

    void WriteFooter(IBufferWriter<byte> output);

    /// <summary>Files zipped beside the data file, e.g. the CSV's <c>CREATE TABLE</c> DDL, keyed by extension.</summary>
    IReadOnlyList<CompanionFile> CompanionFiles(string tableName);
}

internal sealed record CompanionFile(string Extension, byte[] Content);
