using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources;

/// <summary>Reads rows of one entity. <see cref="Current"/> is a fresh array per row; callers may keep it.</summary>
internal interface IRowReader : IAsyncDisposable
{
    IReadOnlyList<Column> Columns { get; }

    ValueTask<bool> ReadAsync(CancellationToken cancellationToken);

    object?[] Current { get; }
}
