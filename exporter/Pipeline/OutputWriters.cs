using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Formats.Geo;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Pipeline;

/// <summary>
/// The data files one entity gets in one generation: a writer per format × type of data for the
/// totals, and a writer per format for the delta. Publishing re-issues a total whose content is
/// unchanged since the last total (a server-side copy) and uploads the rest.
/// </summary>
internal sealed class OutputWriters : IDeltaSink, IDisposable
{
    private readonly GenerationContext _context;
    private readonly EntitySpec _entity;
    private readonly EntityLayout _layout;
    private readonly List<Group> _totals = [];
    private readonly List<Group> _deltas = [];
    private readonly int _width;
    // Delta records carry the operation column, so their digests differ from the state rows'; used
    // only by the delta stage.
    private readonly RowDigest _deltaDigest;
    private readonly byte[] _digest = new byte[RowDigest.Length];
    private readonly OperationRowView _deltaRecord;

    public OutputWriters(GenerationContext context, EntitySpec entity, EntityLayout layout)
    {
        _context = context;
        _entity = entity;
        _layout = layout;
        _width = layout.Columns.Count;
        var output = context.Schedule.Spec.Output;
        var formats = FormatsOf(entity, output, layout);
        var temporal = layout.Temporal is not null;
        var typesOfData = temporal ? output.TypesOfData : [TypesOfData.Current];
        var totalKey = EntityIdentity.Columns(entity);

        if (context.IsTotal)
        {
            foreach (var format in formats)
            {
                foreach (var typeOfData in TypesOfData.All.Where(typesOfData.Contains))
                {
                    _totals.Add(CreateGroup(FileNaming.TotalDownload, format, typeOfData, layout.Columns, totalKey));
                }
            }
        }

        var deltaColumns = layout.Columns.Append(new Column(EntityExport.OperationColumn, ColumnKind.Text, Nullable: false)).ToList();
        _deltaDigest = new RowDigest(deltaColumns);
        _deltaRecord = new OperationRowView(deltaColumns);
        var deltaType = temporal ? TypesOfData.Bitemporal : TypesOfData.Current;
        foreach (var format in formats)
        {
            _deltas.Add(CreateGroup(FileNaming.DeltaDownload, format, deltaType, deltaColumns, totalKey));
        }
    }

    public long UncompressedBytes => _totals.Concat(_deltas).Sum(g => g.Writer.UncompressedBytes);

    public long DeltaRecords { get; private set; }

    /// <summary>
    /// The formats this entity is written in: its own list or the schedule's, less those it does not
    /// allow (GEOJSON and GML need a geometry; GPKG takes at most one, and asking for it explicitly
    /// with two is an error rather than a silent omission).
    /// </summary>
    internal static List<string> FormatsOf(EntitySpec entity, OutputSpec output, EntityLayout layout)
    {
        var geometryColumns = layout.Columns.Count(c => c.Kind == ColumnKind.Geometry);
        if (entity.Formats is { } own && own.Contains(OutputFormats.GeoPackage) && geometryColumns > 1)
        {
            throw new SourceException($"entity {entity.Name}: spec.entities[].formats lists GPKG, which holds at most one geometry column, and the source has {geometryColumns} ({string.Join(", ", layout.Columns.Where(c => c.Kind == ColumnKind.Geometry).Select(c => c.Name))}); remove GPKG from the entity's formats or select one geometry", transient: false);
        }

        return [.. (entity.Formats ?? output.Formats)
            .Where(output.Formats.Contains)
            // GEOJSON and GML skip entities without a geometry: each format's own rule (OutputFormats.Rules).
            .Where(f => OutputFormats.Rule(f).Geometry != GeometryRule.SkipEntitiesWithout || layout.HasGeometry)
            .Where(f => f != OutputFormats.GeoPackage || geometryColumns <= 1)];
    }

    private Group CreateGroup(string typeOfDownload, string formatName, string typeOfData, IReadOnlyList<Column> columns, IReadOnlyList<string> keyColumns)
    {
        var spec = _context.Schedule.Spec;
        var options = new DataFileSetOptions(
            (part, count) => FileNaming.BaseName(spec.Register, spec.Version, _entity.Name, typeOfDownload, formatName, typeOfData, _context.Generation, part, count),
            _entity.Name,
            keyColumns,
            _context.TempDirectory,
            Quantity.Parse(spec.Output.MaxUncompressedBytes),
            spec.Output.MaxRecordsPerFile,
            _context.PointInTime,
            _layout.GeometryIndex,
            spec.Output.CompressionLevel);
        var format = _context.Formats.Get(formatName);
        if (format is IEntityConfiguredFormat configured)
        {
            // GPKG, GML and PARQUET carry the entity's CRS, the generation's time and the codec.
            format = configured.For(new EntityGeometry(_entity.Name, _entity.Geometry?.Column, _entity.Geometry?.Epsg, keyColumns), _context.PointInTime, spec.Output.ParquetCompression);
        }

        IDataFileSetWriter writer = new DataFileSetWriter(format, columns, options);
        return new Group(typeOfDownload, formatName, typeOfData, columns, writer);
    }

    /// <param name="row">A row of the entity's state.</param>
    /// <param name="layout">Where its columns are.</param>
    /// <param name="pointInTime">The generation's point in time.</param>
    /// <param name="digest">The row's <see cref="RowDigest"/>, computed once by the delta stage.</param>
    public void WriteTotal(IRowView row, EntityLayout layout, DateTimeOffset pointInTime, ReadOnlySpan<byte> digest)
    {
        if (_totals.Count == 0)
        {
            return;
        }

        var registrationCurrent = true;
        var effectCurrent = true;
        if (layout.Temporal is { } t)
        {
            var registrationTo = EntityExport.Instant(row, t.RegistrationTo, layout, _entity);
            registrationCurrent = registrationTo is null || registrationTo > pointInTime;
            var effectiveFrom = EntityExport.Instant(row, t.EffectiveFrom, layout, _entity);
            var effectiveTo = EntityExport.Instant(row, t.EffectiveTo, layout, _entity);
            effectCurrent = (effectiveFrom is null || effectiveFrom <= pointInTime) && (effectiveTo is null || effectiveTo > pointInTime);
        }

        foreach (var group in _totals)
        {
            var include = group.TypeOfData switch
            {
                TypesOfData.Bitemporal => true,
                TypesOfData.Temporal => registrationCurrent,
                _ => registrationCurrent && effectCurrent,
            };
            if (include)
            {
                group.Writer.Write(row, digest);
            }
        }
    }

    /// <summary>
    /// Set by the delta stage while it adds a row whose digest that <see cref="RowDigest"/> has just
    /// computed: a delta record of that row then takes its digest from the same canonical bytes plus the
    /// operation member, rather than formatting the row's canonical bytes a second time.
    /// </summary>
    public RowDigest? CurrentRowDigest { get; set; }

    private int _operationIndex = -1;

    /// <summary>A row of the new state as a delta record: its columns and the operation.</summary>
    public void WriteDelta(IRowView row, DeltaOperation operation)
    {
        var record = _deltaRecord.Reset(row, operation);
        if (CurrentRowDigest is { } state)
        {
            if (_operationIndex < 0)
            {
                _operationIndex = state.InsertionIndex(EntityExport.OperationColumn);
            }

            state.ComputeWithMember(_operationIndex, OperationMember(operation), _digest);
        }
        else
        {
            _deltaDigest.Compute(record, _digest);
        }

        foreach (var group in _deltas)
        {
            group.Writer.Write(record, _digest);
        }

        DeltaRecords++;
    }

    private void WriteDeltaRecord(object?[] record)
    {
        _deltaDigest.Compute(record, _digest);
        foreach (var group in _deltas)
        {
            group.Writer.Write(record, _digest);
        }

        DeltaRecords++;
    }

    void IDeltaSink.Change(IRowView row, DeltaOperation operation) => WriteDelta(row, operation);

    void IDeltaSink.Delete(object?[] identityValues)
    {
        var tombstone = new object?[_width + 1];
        for (var i = 0; i < _layout.IdentityIndexes.Length; i++)
        {
            tombstone[_layout.IdentityIndexes[i]] = identityValues[i];
        }

        tombstone[_width] = OperationName(DeltaOperation.Delete);
        try
        {
            WriteDeltaRecord(tombstone);
        }
        catch (RowValueException e)
        {
            // The base state keeps keys with the types they had; a key column read with another type now
            // (a JSONL value written as a string, a CSV column declared anew) cannot even be compared with them.
            var key = string.Join(", ", _layout.IdentityIndexes.Select(i => $"'{_layout.Columns[i].Name}' ({_layout.Columns[i].Kind})"));
            throw new SourceException(
                $"entity {_entity.Name}: a key column's type changed since the last generation: the previous generation's keys cannot be held by key column {key} as read now ({e.Message}). " +
                "A key keeps its type for the life of a register; restore the type, or publish the entity under a new name. Nothing was published.",
                transient: false, e);
        }
    }

    public static string OperationName(DeltaOperation operation) => operation switch
    {
        DeltaOperation.Insert => "insert",
        DeltaOperation.Update => "update",
        _ => "delete",
    };

    private static readonly byte[][] OperationMembers = [.. new[] { DeltaOperation.Insert, DeltaOperation.Update, DeltaOperation.Delete }.Select(o =>
    {
        var member = new ArrayBufferWriter<byte>();
        CanonicalJson.WriteString(EntityExport.OperationColumn, member);
        member.Write(":"u8);
        CanonicalJson.WriteString(OperationName(o), member);
        return member.WrittenSpan.ToArray();
    })];

    /// <summary>The canonical <c>"operation":"insert"</c> member of a delta record.</summary>
    private static ReadOnlySpan<byte> OperationMember(DeltaOperation operation) => OperationMembers[(int)operation];

    /// <summary>The UTF-8 of <see cref="OperationName"/>.</summary>
    public static ReadOnlySpan<byte> OperationUtf8(DeltaOperation operation) => operation switch
    {
        DeltaOperation.Insert => "insert"u8,
        DeltaOperation.Update => "update"u8,
        _ => "delete"u8,
    };

    /// <summary>Finishes every file and puts it in the store (unreferenced until the manifest commits).</summary>
    public async Task<(List<ManifestFile> Files, long Bytes)> PublishAsync(CancellationToken cancellationToken)
    {
        var files = new List<ManifestFile>();
        long bytes = 0;
        var spec = _context.Schedule.Spec;
        foreach (var group in _totals.Concat(_deltas))
        {
            var set = group.Writer.Complete();
            var contentId = ContentId(group, set.ContentSha256);
            var groupFiles = new List<ManifestFile>();
            var previous = group.TypeOfDownload == FileNaming.TotalDownload
                && _context.LastTotals.TryGetValue(GroupKey(group), out var last)
                && last.Count > 0 && last.All(f => f.ContentId == contentId)
                ? last
                : null;

            if (previous is not null)
            {
                // Unchanged since the last total: the same zip under the new generation's name, so
                // consumers see from the inner name that they already have it.
                foreach (var (old, staged) in previous.OrderBy(f => f.Part).Zip(set.Files))
                {
                    var fileName = FileNaming.BaseName(spec.Register, spec.Version, _entity.Name, group.TypeOfDownload, group.Format, group.TypeOfData, _context.Generation, old.Part, old.PartCount) + ".zip";
                    var key = FileNaming.DataKey(spec.Register, spec.Version, _entity.Name, fileName);
                    await _context.Store.CopyAsync(old.Key, key, cancellationToken).ConfigureAwait(false);
                    // Equal content ids mean the same records in the same parts, so the fresh fingerprint is the old file's.
                    groupFiles.Add(File(group, key, fileName, old.ContainedFileName, old.ContainedGenerationNumber, old.Part, old.PartCount, old.SizeBytes, old.Sha256, old.RecordCount, old.UncompressedBytes, contentId, staged.Fingerprint));
                }

                foreach (var staged in set.Files)
                {
                    System.IO.File.Delete(staged.LocalPath);
                }
            }
            else
            {
                foreach (var staged in set.Files)
                {
                    var key = FileNaming.DataKey(spec.Register, spec.Version, _entity.Name, staged.FileName);
                    await _context.Store.PutFileAsync(key, staged.LocalPath, staged.Sha256, "application/zip", cancellationToken).ConfigureAwait(false);
                    System.IO.File.Delete(staged.LocalPath);
                    groupFiles.Add(File(group, key, staged.FileName, staged.InnerFileName, _context.Generation, staged.Part, staged.PartCount, staged.SizeBytes, staged.Sha256, staged.Records, staged.UncompressedBytes, contentId, staged.Fingerprint));
                }
            }

            bytes += groupFiles.Sum(f => f.SizeBytes);
            files.AddRange(groupFiles);
        }

        return (files, bytes);
    }

    private ManifestFile File(Group group, string key, string fileName, string containedFileName, long containedGeneration, int part, int partCount, long size, string sha256, long records, long uncompressed, string contentId, string fingerprint) => new()
    {
        Key = key,
        FileName = fileName,
        EntityName = _entity.Name,
        TypeOfDownload = group.TypeOfDownload,
        TypeOfData = group.TypeOfData,
        Format = group.Format,
        ContainedFileName = containedFileName,
        ContainedGenerationNumber = containedGeneration,
        Part = part,
        PartCount = partCount,
        SizeBytes = size,
        Sha256 = sha256,
        RecordCount = records,
        UncompressedBytes = uncompressed,
        ContentId = contentId,
        Fingerprint = fingerprint,
    };

    private string GroupKey(Group group) => $"{_context.Register}|{_context.Version}|{_entity.Name}|{group.TypeOfDownload}|{group.TypeOfData}|{group.Format}";

    /// <summary>The data (and its schema) without the generation: equal ids mean byte-identical content.</summary>
    private static string ContentId(Group group, string contentSha256)
    {
        var schema = string.Join(",", group.Columns.Select(c => $"{c.Name}:{c.Kind}:{c.ElementKind}:{c.SqlType}:{c.Nullable}"));
        var text = $"{group.Format}|{group.TypeOfData}|{schema}|{contentSha256}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    public void Dispose()
    {
        foreach (var group in _totals.Concat(_deltas))
        {
            group.Writer.Dispose();
        }

        _deltaDigest.Dispose();
    }

    private sealed record Group(string TypeOfDownload, string Format, string TypeOfData, IReadOnlyList<Column> Columns, IDataFileSetWriter Writer);
}

/// <summary>
/// A row of the entity's state followed by the delta's operation column, without copying the row:
/// one instance is reused for every delta record (<see cref="Reset"/>).
/// </summary>
internal sealed class OperationRowView(IReadOnlyList<Column> columns) : IExtendedRowView
{
    private readonly int _width = columns.Count - 1;
    private IRowView _row = null!;
    private DeltaOperation _operation;

    public IReadOnlyList<Column> Columns => columns;

    public IRowView Inner => _row;

    public OperationRowView Reset(IRowView row, DeltaOperation operation)
    {
        if (row.Columns.Count != _width)
        {
            throw new ArgumentException($"Row has {row.Columns.Count} values for {_width} columns.", nameof(row));
        }

        _row = row;
        _operation = operation;
        return this;
    }

    public bool IsNull(int column) => column != _width && _row.IsNull(column);

    public ReadOnlySpan<byte> GetUtf8(int column) => column == _width ? OutputWriters.OperationUtf8(_operation) : _row.GetUtf8(column);

    public string GetString(int column) => column == _width ? OutputWriters.OperationName(_operation) : _row.GetString(column);

    public long GetInt64(int column) => column == _width ? throw NotText(column) : _row.GetInt64(column);

    public double GetDouble(int column) => column == _width ? throw NotText(column) : _row.GetDouble(column);

    public bool GetBoolean(int column) => column == _width ? throw NotText(column) : _row.GetBoolean(column);

    public DateOnly GetDate(int column) => column == _width ? throw NotText(column) : _row.GetDate(column);

    public DateTime GetTimestamp(int column) => column == _width ? throw NotText(column) : _row.GetTimestamp(column);

    public DateTimeOffset GetTimestampTz(int column) => column == _width ? throw NotText(column) : _row.GetTimestampTz(column);

    public Guid GetGuid(int column) => column == _width ? throw NotText(column) : _row.GetGuid(column);

    public ReadOnlySpan<byte> GetBytes(int column) => column == _width ? throw NotText(column) : _row.GetBytes(column);

    public GeometryValue GetGeometry(int column) => column == _width ? throw NotText(column) : _row.GetGeometry(column);

    public GeometryUtf8 GetGeometryUtf8(int column) => column == _width ? throw NotText(column) : _row.GetGeometryUtf8(column);

    public IReadOnlyList<object?> GetArray(int column) => column == _width ? throw NotText(column) : _row.GetArray(column);

    public bool TryGetInt64Array(int column, out ReadOnlySpan<long> values)
    {
        if (column == _width)
        {
            values = default;
            return false;
        }

        return _row.TryGetInt64Array(column, out values);
    }

    public object? GetValue(int column) => column == _width ? OutputWriters.OperationName(_operation) : _row.GetValue(column);

    private InvalidOperationException NotText(int column) =>
        new($"Column '{columns[column].Name}' (Text) holds the operation, not a value of another kind.");
}
