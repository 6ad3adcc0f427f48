using BulkExport.Publishing.Verification;

namespace BulkExport.Exporter.Verification;

/// <summary>
/// The readers `exporter verify` uses: the publishing library's (JSON, JSONL, CSV, GEOJSON, GML) and
/// the two that need the exporter's SQLite and Parquet.Net, kept out of the library the download
/// service shares.
/// </summary>
internal static class ExporterRecordReaders
{
    public static PublishedRecordReaders All { get; } = PublishedRecordReaders.Default
        .With(new GeoPackageRecordReader())
        .With(new ParquetRecordReader());
}
