// TEMPORARY: replaced by the formats branch at merge. JSONL only, no inference.
using System.Text.Json;
using BulkExport.Api;

namespace BulkExport.Exporter.Sources.Files;

internal sealed class FilesSource(FilesSourceSpec spec, IReadOnlyList<EntitySpec> entities, TimeProvider time) : ISource
{
    public ValueTask<ISourceSnapshot> OpenSnapshotAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult<ISourceSnapshot>(new Snapshot(spec, entities, time.GetUtcNow()));

    private sealed class Snapshot(FilesSourceSpec spec, IReadOnlyList<EntitySpec> entities, DateTimeOffset pit) : ISourceSnapshot
    {
        public DateTimeOffset PointInTime => pit;

        public int MaxParallelReaders => 1;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        public ValueTask<IRowReader> ReadAsync(EntitySpec entity, ReadRequest request, CancellationToken cancellationToken)
        {
            _ = entities;
            var path = Path.Combine(spec.Path, entity.Name + ".jsonl");
            if (!File.Exists(path))
            {
                throw new SourceException($"entity {entity.Name}: {path} not found", transient: false);
            }

            var lines = File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement).ToList();
            var names = lines.SelectMany(l => l.EnumerateObject().Select(p => p.Name)).Distinct().ToList();
            var temporal = entity.Temporal is { } t ? new[] { t.RegistrationFrom, t.RegistrationTo, t.EffectiveFrom, t.EffectiveTo } : [];
            var columns = names.Select(n => new Column(n, temporal.Contains(n) ? ColumnKind.TimestampTz : ColumnKind.Text)).ToList();
            var rows = lines.Select(l => columns.Select(c => l.TryGetProperty(c.Name, out var v) && v.ValueKind != JsonValueKind.Null
                ? (c.Kind == ColumnKind.TimestampTz ? (object?)DateTimeOffset.Parse(v.GetString()!, System.Globalization.CultureInfo.InvariantCulture).ToUniversalTime() : v.ValueKind == JsonValueKind.Number ? v.GetInt64() : v.ToString())
                : null).ToArray()).ToList();
            return ValueTask.FromResult<IRowReader>(new ListReader(columns, rows));
        }
    }

    private sealed class ListReader(IReadOnlyList<Column> columns, List<object?[]> rows) : IRowReader
    {
        private int _index = -1;

        public IReadOnlyList<Column> Columns => columns;

        public object?[] Current => rows[_index];

        public ValueTask<bool> ReadAsync(CancellationToken cancellationToken) => ValueTask.FromResult(++_index < rows.Count);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
