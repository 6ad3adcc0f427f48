using BulkExport.Api;
using Microsoft.Win32.SafeHandles;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources.Files;

/// <summary>
/// Reads entities from <c>{path}/{Entity}.jsonl</c> or <c>{Entity}.csv</c> snapshots (JSONL wins when
/// both exist). Meant for demos and registers fed by file drops: no key order, no server time.
/// </summary>
internal sealed class FilesSource(FilesSourceSpec spec, IReadOnlyList<EntitySpec> entities, TimeProvider time) : ISource
{
    public ValueTask<ISourceSnapshot> OpenSnapshotAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // Every handle is opened before any row is read: a file replaced (renamed over) during the
        // run is then seen entirely old by this generation, never half old and half new.
        var opened = new Dictionary<string, EntityFile>(StringComparer.Ordinal);
        try
        {
            foreach (var entity in entities)
            {
                opened[entity.Name] = Open(entity);
            }
        }
        catch
        {
            foreach (var file in opened.Values)
            {
                file.Handle.Dispose();
            }

            throw;
        }

        return ValueTask.FromResult<ISourceSnapshot>(new FilesSnapshot(opened, time.GetUtcNow()));
    }

    private EntityFile Open(EntitySpec entity)
    {
        var jsonl = Path.Combine(spec.Path, entity.Name + ".jsonl");
        var csv = Path.Combine(spec.Path, entity.Name + ".csv");
        foreach (var (path, format) in new[] { (jsonl, FileFormat.JsonLines), (csv, FileFormat.Csv) })
        {
            try
            {
                var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
                return new EntityFile(path, format, handle);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                // Try the next spelling.
            }
            catch (UnauthorizedAccessException e)
            {
                throw new SourceException($"Entity '{entity.Name}': cannot open '{path}': {e.Message}", transient: false, e);
            }
            catch (IOException e)
            {
                throw new SourceException($"Entity '{entity.Name}': cannot open '{path}': {e.Message}", transient: true, e);
            }
        }

        throw new SourceException($"Entity '{entity.Name}': no data file; tried '{jsonl}' and '{csv}'.", transient: false);
    }
}

internal enum FileFormat
{
    JsonLines,
    Csv,
}

internal sealed record EntityFile(string Path, FileFormat Format, SafeFileHandle Handle);

internal sealed class FilesSnapshot(IReadOnlyDictionary<string, EntityFile> files, DateTimeOffset pointInTime) : ISourceSnapshot
{
    public DateTimeOffset PointInTime { get; } = pointInTime;

    // Readers share nothing but the read-only handles.
    public int MaxParallelReaders => Math.Max(1, Environment.ProcessorCount);

    public async ValueTask<IRowReader> ReadAsync(EntitySpec entity, ReadRequest request, CancellationToken cancellationToken)
    {
        if (!files.TryGetValue(entity.Name, out var file))
        {
            throw new SourceException($"Entity '{entity.Name}' was not part of this snapshot.", transient: false);
        }

        var layout = new EntityLayout(entity);
        if (file.Format == FileFormat.JsonLines && layout.Declared.Count > 0)
        {
            throw new SourceException($"Entity '{entity.Name}': the entity declares column types (columns), which are for CSV files; '{file.Path}' is JSONL, whose values carry their own types. Remove entities[].columns.", transient: false);
        }

        return file.Format == FileFormat.JsonLines
            ? await JsonLinesRowReader.OpenAsync(file, entity, layout, cancellationToken).ConfigureAwait(false)
            : await CsvRowReader.OpenAsync(file, entity, layout, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        foreach (var file in files.Values)
        {
            file.Handle.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>A column the entity declares a type for (<see cref="EntitySpec.Columns"/>), with a numeric(p,s)'s precision and scale as parsed at load.</summary>
internal sealed record DeclaredColumn(Column Column, int? Precision, int Scale);

/// <summary>What the entity spec says about columns: which are keys and which are temporal.</summary>
internal sealed class EntityLayout
{
    public EntityLayout(EntitySpec entity)
    {
        Keys = new HashSet<string>(entity.Key, StringComparer.Ordinal);
        Geometry = string.IsNullOrEmpty(entity.Geometry?.Column) ? null : entity.Geometry.Column;
        Temporal = new HashSet<string>(StringComparer.Ordinal);
        var declared = new Dictionary<string, DeclaredColumn>(StringComparer.Ordinal);
        foreach (var (name, type) in entity.Columns ?? [])
        {
            declared[name] = Declare(name, type, nullable: !Keys.Contains(name));
        }

        Declared = declared;
        if (entity.Temporal is { } t)
        {
            foreach (var name in new[] { t.RegistrationFrom, t.RegistrationTo, t.EffectiveFrom, t.EffectiveTo })
            {
                if (!string.IsNullOrEmpty(name))
                {
                    Temporal.Add(name);
                }
            }
        }
    }

    public HashSet<string> Keys { get; }

    /// <summary>The entity's declared column types (<see cref="EntitySpec.Columns"/>), as columns by name; checked by the schedule validator.</summary>
    public IReadOnlyDictionary<string, DeclaredColumn> Declared { get; }

    public HashSet<string> Temporal { get; }

    /// <summary>The column holding GeoJSON or WKT that becomes a Geometry column, if the entity names one.</summary>
    public string? Geometry { get; }

    private static DeclaredColumn Declare(string name, string type, bool nullable)
    {
        if (!FileColumnTypes.TryParse(type, out var kind, out var precision, out var scale))
        {
            // The schedule validator refuses these; a spec built in code may still carry one.
            throw new SourceException($"Entity column '{name}': '{type}' is not a column type ({string.Join(", ", FileColumnTypes.Names)}, numeric(p,s)).", transient: false);
        }

        var column = kind switch
        {
            FileColumnTypes.Integer => new Column(name, ColumnKind.Integer, Nullable: nullable),
            FileColumnTypes.Numeric => new Column(name, ColumnKind.Decimal, SqlType: precision is { } p ? $"numeric({p},{scale})" : null, Nullable: nullable),
            FileColumnTypes.Float => new Column(name, ColumnKind.Float, Nullable: nullable),
            FileColumnTypes.Boolean => new Column(name, ColumnKind.Boolean, Nullable: nullable),
            FileColumnTypes.Date => new Column(name, ColumnKind.Date, Nullable: nullable),
            FileColumnTypes.TimestampTz => new Column(name, ColumnKind.TimestampTz, Nullable: nullable),
            FileColumnTypes.Uuid => new Column(name, ColumnKind.Uuid, Nullable: nullable),
            _ => new Column(name, ColumnKind.Text, Nullable: nullable),
        };
        return new DeclaredColumn(column, precision, scale);
    }

    /// <summary>The kind the entity spec forces on a column, if any.</summary>
    public ColumnKind? ForcedKind(string name) =>
        Temporal.Contains(name) ? ColumnKind.TimestampTz : name == Geometry ? ColumnKind.Geometry : null;

    /// <summary>Checks that keys and temporal columns exist; names the entity, file and column otherwise.</summary>
    public void Validate(EntitySpec entity, string path, IReadOnlyList<Column> columns)
    {
        var present = columns.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var key in entity.Key)
        {
            if (!present.Contains(key))
            {
                throw new SourceException($"Entity '{entity.Name}': key column '{key}' is missing from '{path}'.", transient: false);
            }
        }

        foreach (var name in Declared.Keys)
        {
            if (!present.Contains(name))
            {
                throw new SourceException($"Entity '{entity.Name}': column '{name}' of the entity's columns is missing from '{path}'.", transient: false);
            }
        }

        foreach (var name in Geometry is null ? Temporal : Temporal.Append(Geometry))
        {
            if (!present.Contains(name))
            {
                throw new SourceException($"Entity '{entity.Name}': {(name == Geometry ? "geometry" : "temporal")} column '{name}' is missing from '{path}'.", transient: false);
            }
        }
    }
}
