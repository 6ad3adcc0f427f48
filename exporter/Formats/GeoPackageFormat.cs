using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using BulkExport.Exporter.Formats.Geo;
using BulkExport.Exporter.Rows;
using Microsoft.Data.Sqlite;
using NetTopologySuite.Geometries;
using NetTopologySuite.IO;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// OGC GeoPackage 1.3: one SQLite file per data file holding one table named after the entity: a
/// features table with GeoPackage binary geometries and the <c>gpkg_rtree_index</c> extension when the
/// entity has a geometry, an attributes table when it has none. Offered for 0 or 1 geometry columns.
/// </summary>
/// <param name="entity">Entity name, geometry column and CRS.</param>
/// <param name="lastChange">The generation's point in time, written as <c>gpkg_contents.last_change</c> so the file's bytes do not depend on the clock (and the content id does not depend on it at all: see <see cref="ContentSettings"/>).</param>
internal sealed class GeoPackageFormat(EntityGeometry entity, DateTimeOffset lastChange) : IFileFormat, IEntityConfiguredFormat
{
    public string Name => "GPKG";

    public string Extension => "gpkg";

    // SQLite pages compress well (free space, repeated headers).
    public bool DeflateInZip => true;

    // last_change is the generation's time, so the content id is over the rows (IFileFormat.ContentSettings).
    public string ContentSettings => $"epsg={entity.Epsg}|geometry={entity.GeometryColumn}|page={GeoPackageFile.PageSizeBytes}|v={GeoPackageFile.UserVersion}";

    public IDataFileWriter CreateWriter(FormatSchema schema, string path) => new GeoPackageFile(path, schema.Columns, entity, lastChange);

    public IReadOnlyList<CompanionFile> CompanionFiles(FormatSchema schema) => [SqlDdl.Companion(schema)];

    public IOutputFormat For(EntityGeometry entity, DateTimeOffset pointInTime, string parquetCompression) => new GeoPackageFormat(entity, pointInTime);
}

/// <summary>
/// Builds one GeoPackage. Rows go in <see cref="GroupRows"/> at a time through one prepared multi-row
/// INSERT bound through SQLitePCLRaw (no boxed parameters) in transactions of <see cref="RowsPerTransaction"/>; geometries become GeoPackage
/// blobs straight from their WKT (<see cref="WktToWkb"/>; NetTopologySuite only for what it does not
/// take); the R-tree is bulk-loaded packed at the end (<see cref="GeoPackageRtree"/>) and its triggers
/// created after. SQLite's page cache is capped, so memory stays bounded whatever the row count.
/// Deterministic: fixed page size, no journal, no WAL, the same statements in the same order, and no
/// clock; the same rows give the same bytes (with the same SQLite).
/// </summary>
internal sealed class GeoPackageFile : IDataFileWriter
{
    /// <summary>'GPKG' in ASCII, GeoPackage's SQLite application_id.</summary>
    public const int ApplicationId = 0x47504B47;

    /// <summary>GeoPackage 1.3.0.</summary>
    public const int UserVersion = 10300;

    public const int PageSizeBytes = PageSize;

    private const int PageSize = 4096;

    // The page cache bounds SQLite's memory: 8 MiB. Rows are appended in rowid order and the R-tree
    // is packed at the end, so nothing re-reads evicted pages (the row-by-row R-tree needed 64 MiB).
    private const int CacheKiB = 8 * 1024;
    private const int RowsPerTransaction = 32 * 1024;
    private const int SizeCheckEvery = 1024;

    // GeoPackage binary header (GeoPackage 1.3, 2.1.3): "GP", version 0, flags, srs_id.
    private const int BlobHeaderBytes = 8;
    private const int EnvelopeBytes = 32;

    private readonly IReadOnlyList<Column> _columns;
    private readonly EntityGeometry _entity;
    private readonly DateTimeOffset _lastChange;
    private readonly SqliteConnection _connection;
    private readonly string _table;
    private readonly string _fid;
    private readonly int _geometryIndex = -1;
    private readonly GeometryReader _geometry;
    private readonly GeoPackageGeoWriter _blobWriter = new() { HandleOrdinates = Ordinates.XY };
    // A geometry with a Z: ISO WKB Z (type + 1000) and an [x, y, z] envelope (indicator 2).
    private readonly GeoPackageGeoWriter _blobWriterZ = new() { HandleOrdinates = Ordinates.XYZ };
    private readonly WktToWkb _wkb = new();
    // Rows go in GroupRows at a time through one multi-row INSERT: the table's AUTOINCREMENT makes SQLite
    // read and rewrite sqlite_sequence once per statement, and each statement also opens and closes its
    // cursors; per row that was most of SQLite's work. The file's bytes are the same: the same rows are
    // appended in the same rowid order, committed at the same rows (RowsPerTransaction is a multiple).
    private const int GroupRows = 64;

    private readonly RawStatement _insert;
    private readonly PendingRows _pending;
    private RawStatement? _insertRest;
    private readonly RawStatement _pageCount;
    private readonly GeoPackageRtree? _rtree;
    private readonly bool[] _decimalAsReal;
    private readonly HashSet<OgcGeometryType> _types = [];
    // Geometries written with and without a Z, for gpkg_geometry_columns.z (0 none, 1 all, 2 mixed).
    private long _withZ;
    private long _withoutZ;
    private byte[] _blob = new byte[256];
    private SqliteTransaction _transaction;
    private double _minX = double.PositiveInfinity;
    private double _minY = double.PositiveInfinity;
    private double _maxX = double.NegativeInfinity;
    private double _maxY = double.NegativeInfinity;
    private long _rows;
    private long _estimatedBytes;
    private bool _finished;

    public GeoPackageFile(string path, IReadOnlyList<Column> columns, EntityGeometry entity, DateTimeOffset lastChange)
    {
        _columns = columns;
        _decimalAsReal = [.. columns.Select(c => c.Kind == ColumnKind.Decimal && DecimalFitsDouble(c.SqlType))];
        _entity = entity;
        _lastChange = lastChange;
        _geometry = new GeometryReader(entity);
        var geometries = entity.GeometryIndexes(columns);
        if (geometries.Length > 1)
        {
            throw new FormatException($"entity {entity.EntityName}: GPKG holds at most one geometry column, the source has {geometries.Length} ({string.Join(", ", geometries.Select(i => columns[i].Name))}); leave GPKG out of spec.entities[].formats for it, or select one geometry in the query");
        }

        if (geometries.Length == 1)
        {
            _geometryIndex = geometries[0];
        }

        _table = entity.EntityName;
        _fid = columns.Any(c => string.Equals(c.Name, "fid", StringComparison.OrdinalIgnoreCase)) ? "gpkg_fid" : "fid";
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString());
        _connection.Open();
        try
        {
            Execute($"""
                PRAGMA page_size = {PageSize};
                PRAGMA journal_mode = OFF;
                PRAGMA synchronous = OFF;
                PRAGMA locking_mode = EXCLUSIVE;
                PRAGMA cache_size = -{CacheKiB};
                PRAGMA application_id = {ApplicationId};
                PRAGMA user_version = {UserVersion};
                """);
            _transaction = _connection.BeginTransaction();
            CreateMetadataTables();
            Execute(CreateTableSql(_geometryIndex >= 0 ? "GEOMETRY" : null));
            var db = _connection.Handle!;
            if (_geometryIndex >= 0)
            {
                Execute($"CREATE VIRTUAL TABLE {Quote(RtreeName)} USING rtree(id, minx, maxx, miny, maxy)");
                _rtree = new GeoPackageRtree(db, RtreeName);
            }

            // The feature id is the row's number, given explicitly: the R-tree needs it and asking
            // SQLite for last_insert_rowid() would be another call per row.
            _insert = new RawStatement(db, InsertSql(GroupRows));
            _pending = new PendingRows(columns.Count + 1, GroupRows);
            _pageCount = new RawStatement(db, "PRAGMA page_count");
        }
        catch
        {
            _rtree?.Dispose();
            _connection.Dispose();
            throw;
        }
    }

    private string RtreeName => $"rtree_{_table}_{_columns[_geometryIndex].Name}";

    public long EstimatedBytes => _estimatedBytes;

    /// <summary>The GeoPackage column type of a kind; exact decimals stay text unless a double holds them exactly.</summary>
    public static string SqlType(Column column) => column.Kind switch
    {
        ColumnKind.Text or ColumnKind.Uuid or ColumnKind.Json or ColumnKind.Array => "TEXT",
        ColumnKind.Integer => "INTEGER",
        ColumnKind.Decimal => DecimalFitsDouble(column.SqlType) ? "REAL" : "TEXT",
        ColumnKind.Float => "DOUBLE",
        ColumnKind.Boolean => "BOOLEAN",
        ColumnKind.Date => "DATE",
        ColumnKind.Timestamp or ColumnKind.TimestampTz => "DATETIME",
        ColumnKind.Bytes => "BLOB",
        _ => throw new ArgumentOutOfRangeException(nameof(column), column.Kind, null),
    };

    /// <summary><c>numeric(p,s)</c> with p ≤ 15: every such value round-trips through a double to the same digits.</summary>
    internal static bool DecimalFitsDouble(string? sqlType) => NumericPrecision(sqlType) is { Precision: <= 15 };

    internal static (int Precision, int Scale)? NumericPrecision(string? sqlType)
    {
        if (sqlType is null)
        {
            return null;
        }

        var open = sqlType.IndexOf('(', StringComparison.Ordinal);
        var close = sqlType.IndexOf(')', StringComparison.Ordinal);
        if (open < 0 || close < open || !sqlType.StartsWith("numeric", StringComparison.OrdinalIgnoreCase) && !sqlType.StartsWith("decimal", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var parts = sqlType[(open + 1)..close].Split(',', StringSplitOptions.TrimEntries);
        if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var precision))
        {
            return null;
        }

        var scale = 0;
        if (parts.Length > 1 && !int.TryParse(parts[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out scale))
        {
            return null;
        }

        return scale < 0 || scale > precision ? null : (precision, scale);
    }

    // SQLite turns a bound NaN into NULL, and a 'NaN' text in a REAL column reads as 0 in GDAL: either
    // would publish a value other than the source's, so the run stops and says where instead.
    private FormatException NaNNotStorable(IRowView row, Column column)
    {
        var key = string.Join(", ", _entity.KeyColumns.Select(k =>
        {
            var at = _columns.ToList().FindIndex(c => c.Name == k);
            return at < 0 ? k : $"{k}={(row.IsNull(at) ? "NULL" : Convert.ToString(row.GetValue(at), CultureInfo.InvariantCulture))}";
        }));
        return new FormatException($"entity {_entity.EntityName}{(key.Length > 0 ? $", key ({key})" : "")}, column {column.Name}: NaN cannot be stored in a GeoPackage (SQLite keeps it as NULL); leave GPKG out of spec.entities[].formats for this entity, or replace NaN in the source; nothing was published");
    }

    public void Write(IRowView row)
    {
        var fid = _rows + 1;
        var slot = _pending.Rows * (_columns.Count + 1);
        _pending.BindInt64(slot + 1, fid);
        Span<byte> scalar = stackalloc byte[ScalarText.MaxScalarBytes];
        var hasBox = false;
        double minX = 0, maxX = 0, minY = 0, maxY = 0;
        for (var i = 0; i < _columns.Count; i++)
        {
            var index = slot + i + 2;
            if (row.IsNull(i))
            {
                _pending.BindNull(index);
                continue;
            }

            var column = _columns[i];
            switch (column.Kind)
            {
                case ColumnKind.Text or ColumnKind.Json:
                    _pending.BindText(index, row.GetUtf8(i));
                    break;
                case ColumnKind.Integer:
                    _pending.BindInt64(index, row.GetInt64(i));
                    break;
                case ColumnKind.Decimal:
                    var text = row.GetUtf8(i);
                    if (_decimalAsReal[i] && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
                    {
                        _pending.BindDouble(index, double.IsNaN(d) ? throw NaNNotStorable(row, column) : d);
                    }
                    else
                    {
                        _pending.BindText(index, text);
                    }

                    break;
                case ColumnKind.Float:
                    var real = row.GetDouble(i);
                    _pending.BindDouble(index, double.IsNaN(real) ? throw NaNNotStorable(row, column) : real);
                    break;
                case ColumnKind.Boolean:
                    _pending.BindInt64(index, row.GetBoolean(i) ? 1 : 0);
                    break;
                case ColumnKind.Date or ColumnKind.Timestamp or ColumnKind.TimestampTz or ColumnKind.Uuid:
                    // From the typed getters (no boxed DateOnly/Guid per row); a boxed row keeps the boxed spellings it may hold.
                    _pending.BindText(index, scalar[..(row is ObjectRowView ? ScalarText.Format(column.Kind, row.GetValue(i)!, column, scalar) : ScalarText.Format(row, i, scalar))]);
                    break;
                case ColumnKind.Bytes:
                    _pending.BindBlob(index, row.GetBytes(i));
                    break;
                case ColumnKind.Geometry when i == _geometryIndex:
                    _pending.BindBlob(index, GeometryBlob(row.GetGeometryUtf8(i), column, out hasBox, out minX, out maxX, out minY, out maxY));
                    break;
                default:
                    // Arrays: GeoPackage has no array type, so the JSON formats' spelling.
                    _pending.BindText(index, JsonValues.ToJsonUtf8(column, row.GetValue(i)!));
                    break;
            }
        }

        if (++_pending.Rows == GroupRows)
        {
            Flush();
        }

        if (hasBox)
        {
            _rtree?.Add(fid, minX, maxX, minY, maxY);
        }

        _rows++;
        if (_rows % RowsPerTransaction == 0)
        {
            Flush();
            _transaction.Commit();
            _transaction.Dispose();
            _transaction = _connection.BeginTransaction();
        }

        if (_rows % SizeCheckEvery == 0)
        {
            Flush();
            _estimatedBytes = _pageCount.ExecuteScalarInt64() * PageSize;
        }
    }

    /// <summary>Inserts the rows bound so far (a full group, or the rest at the end).</summary>
    private void Flush()
    {
        if (_pending.Rows == 0)
        {
            return;
        }

        var statement = _insert;
        if (_pending.Rows != GroupRows)
        {
            _insertRest?.Dispose();
            _insertRest = new RawStatement(_connection.Handle!, InsertSql(_pending.Rows));
            statement = _insertRest;
        }

        _pending.BindTo(statement);
        statement.Execute();
        _pending.Clear();
    }

    private string InsertSql(int rows)
    {
        var parameters = _columns.Count + 1;
        var values = string.Join(", ", Enumerable.Range(0, rows).Select(r => "(" + string.Join(", ", Enumerable.Range(1, parameters).Select(p => $"?{(r * parameters) + p}")) + ")"));
        return $"INSERT INTO {Quote(_table)} ({Quote(_fid)}, {string.Join(", ", _columns.Select(c => Quote(c.Name)))}) VALUES {values}";
    }

    /// <summary>
    /// The GeoPackage blob of a geometry: header, envelope (none for a point, whose envelope is itself,
    /// as GDAL writes it), then WKB, built from the WKT directly; NetTopologySuite writes what the fast
    /// path does not take (EMPTY, Z, odd spellings; an M fails the file). The box is the geometry's envelope, false when empty.
    /// </summary>
    private ReadOnlySpan<byte> GeometryBlob(GeometryUtf8 value, Column column, out bool hasBox, out double minX, out double maxX, out double minY, out double maxY)
    {
        var wkt = _geometry.CheckedWkt(value, column);
        if (!_wkb.TryConvert(wkt))
        {
            var geometry = _geometry.Read(value, column, out var hasZ);
            _types.Add(geometry.OgcGeometryType);
            if (hasZ)
            {
                _withZ++;
            }
            else
            {
                _withoutZ++;
            }

            var blob = (hasZ ? _blobWriterZ : _blobWriter).Write(geometry);
            hasBox = !geometry.IsEmpty;
            (minX, maxX, minY, maxY) = hasBox ? (geometry.EnvelopeInternal.MinX, geometry.EnvelopeInternal.MaxX, geometry.EnvelopeInternal.MinY, geometry.EnvelopeInternal.MaxY) : (0, 0, 0, 0);
            if (hasBox)
            {
                Expand(minX, maxX, minY, maxY);
            }

            return blob;
        }

        _types.Add(_wkb.Type);
        _withoutZ++;
        (minX, maxX, minY, maxY) = (_wkb.MinX, _wkb.MaxX, _wkb.MinY, _wkb.MaxY);
        hasBox = true;
        Expand(minX, maxX, minY, maxY);
        var envelope = _wkb.Type != OgcGeometryType.Point;
        var wkb = _wkb.Wkb;
        var length = BlobHeaderBytes + (envelope ? EnvelopeBytes : 0) + wkb.Length;
        if (_blob.Length < length)
        {
            _blob = new byte[Math.Max(length, _blob.Length * 2)];
        }

        var span = _blob.AsSpan(0, length);
        span[0] = (byte)'G';
        span[1] = (byte)'P';
        span[2] = 0;
        // Bit 0: little-endian header; bits 1-3: 1 = envelope [minx, maxx, miny, maxy], 0 = none.
        span[3] = (byte)(envelope ? 0b011 : 0b001);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], _geometry.Srid);
        if (envelope)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(span[8..], minX);
            BinaryPrimitives.WriteDoubleLittleEndian(span[16..], maxX);
            BinaryPrimitives.WriteDoubleLittleEndian(span[24..], minY);
            BinaryPrimitives.WriteDoubleLittleEndian(span[32..], maxY);
        }

        wkb.CopyTo(span[(length - wkb.Length)..]);
        return span;
    }

    private void Expand(double minX, double maxX, double minY, double maxY)
    {
        _minX = Math.Min(_minX, minX);
        _maxX = Math.Max(_maxX, maxX);
        _minY = Math.Min(_minY, minY);
        _maxY = Math.Max(_maxY, maxY);
    }

    public void Finish()
    {
        if (_finished)
        {
            return;
        }

        _finished = true;
        Flush();
        var srsId = _geometryIndex >= 0 ? _geometry.Srid : (int?)null;
        if (srsId is { } id && id != 4326)
        {
            var crs = _geometry.Crs;
            Execute("INSERT INTO gpkg_spatial_ref_sys VALUES ($name, $id, 'EPSG', $id, $definition, NULL)", ("$name", crs.Name), ("$id", id), ("$definition", crs.Wkt));
        }

        var empty = _minX > _maxX;
        Execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, min_x, min_y, max_x, max_y, srs_id) VALUES ($t, $type, $t, '', $changed, $minx, $miny, $maxx, $maxy, $srs)",
            ("$t", _table),
            ("$type", _geometryIndex >= 0 ? "features" : "attributes"),
            ("$changed", _lastChange.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)),
            ("$minx", empty ? null : _minX),
            ("$miny", empty ? null : _minY),
            ("$maxx", empty ? null : _maxX),
            ("$maxy", empty ? null : _maxY),
            ("$srs", srsId));

        if (_geometryIndex >= 0)
        {
            var column = _columns[_geometryIndex].Name;
            var typeName = _types.Count == 1 ? TypeName(_types.Single()) : "GEOMETRY";
            var z = _withZ == 0 ? 0 : _withoutZ == 0 ? 1 : 2;
            Execute("INSERT INTO gpkg_geometry_columns VALUES ($t, $c, $type, $srs, $z, 0)", ("$t", _table), ("$c", column), ("$type", typeName), ("$srs", srsId), ("$z", z));
            Execute("INSERT INTO gpkg_extensions VALUES ($t, $c, 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')", ("$t", _table), ("$c", column));
            if (typeName != "GEOMETRY")
            {
                // The column's declared type must be the geometry type name, known only now that every
                // row is in; the schema text is corrected in place (a type name only sets affinity,
                // and blobs keep theirs), and the schema cookie bumped so SQLite reloads it.
                using var version = _connection.CreateCommand();
                version.Transaction = _transaction;
                version.CommandText = "PRAGMA schema_version";
                var cookie = (long)version.ExecuteScalar()!;
                Execute("PRAGMA writable_schema = ON");
                Execute("UPDATE sqlite_master SET sql = $sql WHERE type = 'table' AND name = $t", ("$sql", CreateTableSql(typeName)), ("$t", _table));
                Execute($"PRAGMA schema_version = {cookie + 1}");
                Execute("PRAGMA writable_schema = OFF");
            }

            // Packed in one pass now that every envelope is known; the triggers only after it.
            _rtree!.Finish();
            CreateRtreeTriggers(column);
        }

        if (_entity.KeyColumns.Count > 0 && _entity.KeyColumns.All(k => _columns.Any(c => c.Name == k)))
        {
            Execute($"CREATE INDEX {Quote($"idx_{_table}_key")} ON {Quote(_table)} ({string.Join(", ", _entity.KeyColumns.Select(Quote))})");
        }

        _transaction.Commit();
        _transaction.Dispose();
        _insert.Dispose();
        _insertRest?.Dispose();
        _pageCount.Dispose();
        _rtree?.Dispose();
        _connection.Close();
    }

    public void Dispose()
    {
        _insert.Dispose();
        _insertRest?.Dispose();
        _pageCount.Dispose();
        _rtree?.Dispose();
        _transaction.Dispose();
        _connection.Dispose();
    }

    private static string TypeName(OgcGeometryType type) => type switch
    {
        OgcGeometryType.Point => "POINT",
        OgcGeometryType.LineString => "LINESTRING",
        OgcGeometryType.Polygon => "POLYGON",
        OgcGeometryType.MultiPoint => "MULTIPOINT",
        OgcGeometryType.MultiLineString => "MULTILINESTRING",
        OgcGeometryType.MultiPolygon => "MULTIPOLYGON",
        OgcGeometryType.GeometryCollection => "GEOMETRYCOLLECTION",
        _ => "GEOMETRY",
    };

    private string CreateTableSql(string? geometryType)
    {
        var columns = _columns.Select((c, i) => $"{Quote(c.Name)} {(i == _geometryIndex ? geometryType : SqlType(c))}");
        return $"CREATE TABLE {Quote(_table)} ({Quote(_fid)} INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, {string.Join(", ", columns)})";
    }

    private void CreateMetadataTables()
    {
        Execute("""
            CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
            CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER, CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
            CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name), CONSTRAINT uk_gc_table_name UNIQUE (table_name), CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name), CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
            CREATE TABLE gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
            INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system');
            INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system');
            """);
        var wgs84 = CrsDefinitions.Get(4326, "GeoPackage");
        Execute("INSERT INTO gpkg_spatial_ref_sys VALUES ($name, 4326, 'EPSG', 4326, $definition, 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid')", ("$name", wgs84.Name), ("$definition", wgs84.Wkt));
    }

    /// <summary>The extension's triggers (GeoPackage 1.3, F.3), so a user who edits the file keeps the index right.</summary>
    private void CreateRtreeTriggers(string column)
    {
        var t = Quote(_table);
        var c = Quote(column);
        var i = Quote(_fid);
        var r = Quote(RtreeName);
        var n = $"rtree_{_table}_{column}";
        var values = $"(NEW.{i}, ST_MinX(NEW.{c}), ST_MaxX(NEW.{c}), ST_MinY(NEW.{c}), ST_MaxY(NEW.{c}))";
        Execute($"""
            CREATE TRIGGER {Quote(n + "_insert")} AFTER INSERT ON {t} WHEN (new.{c} NOT NULL AND NOT ST_IsEmpty(NEW.{c})) BEGIN INSERT OR REPLACE INTO {r} VALUES {values}; END;
            CREATE TRIGGER {Quote(n + "_update1")} AFTER UPDATE OF {c} ON {t} WHEN OLD.{i} = NEW.{i} AND (NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c})) BEGIN INSERT OR REPLACE INTO {r} VALUES {values}; END;
            CREATE TRIGGER {Quote(n + "_update2")} AFTER UPDATE OF {c} ON {t} WHEN OLD.{i} = NEW.{i} AND (NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c})) BEGIN DELETE FROM {r} WHERE id = OLD.{i}; END;
            CREATE TRIGGER {Quote(n + "_update3")} AFTER UPDATE ON {t} WHEN OLD.{i} != NEW.{i} AND (NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c})) BEGIN DELETE FROM {r} WHERE id = OLD.{i}; INSERT OR REPLACE INTO {r} VALUES {values}; END;
            CREATE TRIGGER {Quote(n + "_update4")} AFTER UPDATE ON {t} WHEN OLD.{i} != NEW.{i} AND (NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c})) BEGIN DELETE FROM {r} WHERE id IN (OLD.{i}, NEW.{i}); END;
            CREATE TRIGGER {Quote(n + "_delete")} AFTER DELETE ON {t} WHEN old.{c} NOT NULL BEGIN DELETE FROM {r} WHERE id = OLD.{i}; END;
            """);
    }

    private void Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = _connection.CreateCommand();
        command.Transaction = _connection.State == System.Data.ConnectionState.Open ? CurrentTransaction : null;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        command.ExecuteNonQuery();
    }

    private SqliteTransaction? CurrentTransaction => _transaction;

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}

/// <summary>
/// The bindings of the rows waiting for the next multi-row INSERT: parameter number → value, text and
/// blobs copied (the row views they came from are only borrowed), bound to the statement in one go.
/// </summary>
internal sealed class PendingRows(int parametersPerRow, int rows)
{
    private enum Kind : byte
    {
        Null,
        Int64,
        Double,
        Text,
        Blob,
    }

    private readonly Kind[] _kinds = new Kind[(parametersPerRow * rows) + 1];
    private readonly long[] _numbers = new long[(parametersPerRow * rows) + 1];
    private readonly int[] _starts = new int[(parametersPerRow * rows) + 1];
    private readonly int[] _lengths = new int[(parametersPerRow * rows) + 1];
    private byte[] _bytes = new byte[64 * 1024];
    private int _used;

    /// <summary>Rows bound so far.</summary>
    public int Rows { get; set; }

    public void BindNull(int parameter) => _kinds[parameter] = Kind.Null;

    public void BindInt64(int parameter, long value)
    {
        _kinds[parameter] = Kind.Int64;
        _numbers[parameter] = value;
    }

    public void BindDouble(int parameter, double value)
    {
        _kinds[parameter] = Kind.Double;
        _numbers[parameter] = BitConverter.DoubleToInt64Bits(value);
    }

    public void BindText(int parameter, ReadOnlySpan<byte> utf8) => Copy(parameter, Kind.Text, utf8);

    public void BindBlob(int parameter, ReadOnlySpan<byte> blob) => Copy(parameter, Kind.Blob, blob);

    public void BindTo(RawStatement statement)
    {
        var count = Rows * parametersPerRow;
        for (var p = 1; p <= count; p++)
        {
            switch (_kinds[p])
            {
                case Kind.Null:
                    statement.BindNull(p);
                    break;
                case Kind.Int64:
                    statement.BindInt64(p, _numbers[p]);
                    break;
                case Kind.Double:
                    statement.BindDouble(p, BitConverter.Int64BitsToDouble(_numbers[p]));
                    break;
                case Kind.Text:
                    statement.BindText(p, _bytes.AsSpan(_starts[p], _lengths[p]));
                    break;
                default:
                    statement.BindBlob(p, _bytes.AsSpan(_starts[p], _lengths[p]));
                    break;
            }
        }
    }

    public void Clear()
    {
        Rows = 0;
        _used = 0;
    }

    private void Copy(int parameter, Kind kind, ReadOnlySpan<byte> value)
    {
        if (_used + value.Length > _bytes.Length)
        {
            Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _used + value.Length));
        }

        value.CopyTo(_bytes.AsSpan(_used));
        _kinds[parameter] = kind;
        _starts[parameter] = _used;
        _lengths[parameter] = value.Length;
        _used += value.Length;
    }
}
