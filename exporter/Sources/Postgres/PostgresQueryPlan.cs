using System.Globalization;
using System.Text;
using BulkExport.Api;
using Npgsql.PostgresTypes;
using NpgsqlTypes;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources.Postgres;

/// <summary>How one output column is read off the wire after the projection has cast it.</summary>
internal enum ValueRead
{
    Long,
    Double,
    Bool,
    Text,
    DecimalText,
    RawJson,
    Date,
    Timestamp,
    TimestampTz,
    Uuid,
    Bytes,
    Geometry,
    LongArray,
    // int4[] and int2[] as they are stored: a cast to int8[] cost the server more per row than the whole
    // rest of the array's send (bench/README, hot path); the readers widen the elements to long.
    Int4Array,
    Int2Array,
    DoubleArray,
    BoolArray,
    TextArray,
    DecimalArray,
    JsonArray,
    DateArray,
    TimestampArray,
    TimestampTzArray,
    UuidArray,
    BytesArray,
}

/// <param name="Column">The column as the pipeline sees it.</param>
/// <param name="Read">How to read it.</param>
/// <param name="Projection">SQL select-list items (geometry projects two: its EWKB and ST_NPoints).</param>
/// <param name="OrderBy">The SQL expression that sorts like the pipeline's byte order when this column is a key.</param>
/// <summary>One result column as described by the server and the catalog.</summary>
internal sealed record PostgresField(string Name, PostgresType Type, string SqlType, bool Nullable);

/// <param name="Geography">A geography column: its GeoJSON has no <c>crs</c> member (ST_AsGeoJSON(geography) writes none).</param>
internal sealed record ColumnPlan(Column Column, ValueRead Read, IReadOnlyList<string> Projection, string OrderBy, bool Geography = false);

/// <summary>
/// The SELECT the exporter runs for an entity, built from the entity's result metadata. Every value is
/// cast in SQL to one of a handful of wire types, so the readers need no per-type special cases and
/// binary COPY (which carries no type information) can be read with known types.
/// </summary>
internal sealed class PostgresQueryPlan
{
    private const string Alias = "q";

    /// <summary>The changed-row flag the inner statement of a changed-rows read adds (<see cref="WithChangedRows"/>).</summary>
    private const string ChangedColumn = "bulkexport$changed";

    private PostgresQueryPlan(IReadOnlyList<ColumnPlan> columns, string select, IReadOnlyList<string> keyColumns, string? selectWithoutPointCounts)
    {
        Columns = columns;
        Select = select;
        KeyColumns = keyColumns;
        SelectWithoutPointCounts = selectWithoutPointCounts;
    }

    /// <summary>The watermark a change-tracking read hands the next generation's state (<see cref="IChangeTrackingReader.Watermark"/>).</summary>
    public byte[]? Watermark { get; private init; }

    /// <summary>
    /// Each tuple ends with one more field, a boolean: the row was written since the base's snapshot. Rows without it
    /// carry NULL in every column but the key (<see cref="WithChangedRows"/>).
    /// </summary>
    public bool ChangedRowsOnly { get; private init; }

    public PostgresQueryPlan WithWatermark(byte[]? watermark) =>
        new(Columns, Select, KeyColumns, SelectWithoutPointCounts) { SpatialRefSys = SpatialRefSys, Watermark = watermark, ChangedRowsOnly = ChangedRowsOnly };

    /// <summary>
    /// The same rows in the same order, but the columns outside the key only of rows for which
    /// <paramref name="changedCondition"/> (SQL over the table's system columns, table alias <c>t</c>) holds,
    /// and a trailing flag saying which rows those are. A NULL of a changed row stays a NULL, told from
    /// "not sent" by the flag.
    /// </summary>
    public PostgresQueryPlan WithChangedRows(EntitySpec entity, string changedCondition, ReadRequest request)
    {
        var changed = Alias + "." + QuoteIdentifier(ChangedColumn);
        var key = new HashSet<string>(entity.Key, StringComparer.Ordinal);
        var projection = Columns.SelectMany(c => key.Contains(c.Column.Name)
            ? c.Projection
            : c.Projection.Select(p => $"CASE WHEN {changed} THEN {p} END"));
        // OFFSET 0 keeps the subquery from being flattened: flattened, the planner copied the condition into every
        // CASE (ten xmin-to-text casts a row on the bench) and sorted the rows whole; fenced, the flag is computed
        // once and the sort carries the NULLs of unchanged rows (backend COPY 2.2 s flattened, 1.0-1.5 s fenced, 1M rows).
        var inner = $"SELECT t.*, ({changedCondition}) AS {QuoteIdentifier(ChangedColumn)} FROM {QuoteQualified(entity.Table!)} AS t OFFSET 0";
        var select = Compose(entity, Columns, request, projection.Append(changed), inner);
        // With point counts: the CASEs make the server project every row anyway, so a read without them would save
        // nothing, and the restart that reads them after all (RawCopyRowReader) does not know the changed flag.
        return new PostgresQueryPlan(Columns, select, KeyColumns, selectWithoutPointCounts: null) { SpatialRefSys = SpatialRefSys, Watermark = Watermark, ChangedRowsOnly = true };
    }

    public IReadOnlyList<ColumnPlan> Columns { get; }

    /// <summary>spatial_ref_sys by SRID for the GeoJSON <c>crs</c> member of geometry columns (<see cref="NeedsSpatialRefSys"/>).</summary>
    public SpatialRefSys? SpatialRefSys { get; private init; }

    /// <summary>A geometry (not geography) column whose GeoJSON may name its SRID.</summary>
    public bool NeedsSpatialRefSys => Columns.Any(c => c.Read == ValueRead.Geometry && !c.Geography);

    public PostgresQueryPlan With(SpatialRefSys spatialRefSys) =>
        new(Columns, Select, KeyColumns, SelectWithoutPointCounts) { SpatialRefSys = spatialRefSys, Watermark = Watermark, ChangedRowsOnly = ChangedRowsOnly };

    /// <summary>The entity's key columns, so a data error can say which row it is.</summary>
    public IReadOnlyList<string> KeyColumns { get; }

    /// <summary>The SELECT statement (no trailing semicolon), usable inside <c>COPY (…) TO STDOUT</c>.</summary>
    public string Select { get; }

    /// <summary>
    /// <see cref="Select"/> without the geometries' <c>ST_NPoints</c> items, for a read sorted by the key
    /// (null otherwise, or without geometry): any item that is not a plain column makes the server project
    /// every row (0.2–0.3 s per 1M points, bench/README.md). Its rows are <see cref="Select"/>'s in the
    /// same order, so a reader that meets a geometry only the count can render reads on from there with
    /// <see cref="Select"/> (<see cref="RawCopyRowReader"/>).
    /// </summary>
    public string? SelectWithoutPointCounts { get; }

    /// <summary>The inner statement every plan wraps: the table or the entity's own query.</summary>
    public static string InnerSelect(EntitySpec entity)
    {
        if (!string.IsNullOrWhiteSpace(entity.Table))
        {
            return "SELECT * FROM " + QuoteQualified(entity.Table);
        }

        if (!string.IsNullOrWhiteSpace(entity.Query))
        {
            return entity.Query.Trim().TrimEnd(';').Trim();
        }

        throw new SourceException($"PostgreSQL source, entity '{entity.Name}': neither table nor query is set", transient: false);
    }

    /// <summary><c>schema.table</c> → <c>"schema"."table"</c>; names already quoted are kept as written.</summary>
    public static string QuoteQualified(string name)
    {
        if (name.Contains('"', StringComparison.Ordinal))
        {
            return name;
        }

        return string.Join('.', name.Split('.').Select(QuoteIdentifier));
    }

    public static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public static PostgresQueryPlan Build(
        EntitySpec entity,
        IReadOnlyList<PostgresField> fields,
        ReadRequest request)
    {
        var plans = fields.Select(f => PlanColumn(f.Name, f.Type, f.SqlType, f.Nullable)).ToList();
        var inner = InnerSelect(entity);
        var select = Compose(entity, plans, request, plans.SelectMany(p => p.Projection), inner);
        // The EWKB item alone; only a key order makes the rows of two reads line up.
        var withoutPointCounts = request.SortByKey && entity.Key.Count > 0 && plans.Any(p => p.Read == ValueRead.Geometry)
            ? Compose(entity, plans, request, plans.SelectMany(p => p.Read == ValueRead.Geometry ? p.Projection.Take(1) : p.Projection), inner)
            : null;
        return new PostgresQueryPlan(plans, select, entity.Key, withoutPointCounts);
    }

    private static string Compose(EntitySpec entity, IReadOnlyList<ColumnPlan> plans, ReadRequest request, IEnumerable<string> projection, string inner)
    {
        var sql = new StringBuilder("SELECT ");
        sql.AppendJoin(", ", projection);
        sql.Append(" FROM (").Append(inner).Append(") AS ").Append(Alias);

        if (request.SortByKey && entity.Key.Count > 0)
        {
            // NULLS FIRST: the pipeline's key encoding puts NULL before every value.
            var orderBy = Pipeline.EntityIdentity.Columns(entity).Select(k =>
                (plans.FirstOrDefault(p => p.Column.Name == k)?.OrderBy
                ?? throw new SourceException($"PostgreSQL source, entity '{entity.Name}': identity column '{k}' is not in the result", transient: false)) + " NULLS FIRST");
            sql.Append(" ORDER BY ").AppendJoin(", ", orderBy);
        }

        return sql.ToString();
    }

    private static ColumnPlan PlanColumn(string name, PostgresType type, string sqlType, bool nullable)
    {
        var col = Alias + "." + QuoteIdentifier(name);
        var baseType = Unwrap(type);

        if (baseType is PostgresArrayType array)
        {
            var (elementKind, read, cast) = ArrayMapping(Unwrap(array.Element));
            return new ColumnPlan(
                new Column(name, ColumnKind.Array, elementKind, sqlType, nullable),
                read,
                [$"{col}::{cast}"],
                $"{col}::text COLLATE \"C\"");
        }

        var typeName = baseType.InternalName;
        if (typeName is "geometry" or "geography")
        {
            // The geometry's binary send form (EWKB, SRID included) once; PostgisText makes the bytes
            // ST_AsGeoJSON(g, 15) and ST_AsText(g, 15) gave when the server rendered both (bench/README.md,
            // "Geometry, 1,000,000 points"). ST_NPoints tells an empty point from a NaN one, which EWKB cannot.
            var geography = typeName == "geography";
            var geometry = geography ? col + "::geometry" : col;
            return new ColumnPlan(
                new Column(name, ColumnKind.Geometry, null, sqlType, nullable),
                ValueRead.Geometry,
                [geometry, $"ST_NPoints({geometry})"],
                $"ST_AsEWKB({col})",
                geography);
        }

        var (kind, valueRead, castTo) = ScalarMapping(typeName);
        var projection = castTo is null ? col : $"{col}::{castTo}";
        var orderBy = kind == ColumnKind.Text ? $"{projection} COLLATE \"C\"" : col;
        return new ColumnPlan(new Column(name, kind, null, sqlType, nullable), valueRead, [projection], orderBy);
    }

    private static PostgresType Unwrap(PostgresType type)
    {
        while (type is PostgresDomainType domain)
        {
            type = domain.BaseType;
        }

        return type;
    }

    private static (ColumnKind Kind, ValueRead Read, string? Cast) ScalarMapping(string internalName) => internalName switch
    {
        "int2" or "int4" => (ColumnKind.Integer, ValueRead.Long, "int8"),
        "int8" => (ColumnKind.Integer, ValueRead.Long, null),
        "numeric" => (ColumnKind.Decimal, ValueRead.DecimalText, "text"),
        "float4" => (ColumnKind.Float, ValueRead.Double, "float8"),
        "float8" => (ColumnKind.Float, ValueRead.Double, null),
        "bool" => (ColumnKind.Boolean, ValueRead.Bool, null),
        "date" => (ColumnKind.Date, ValueRead.Date, null),
        "timestamp" => (ColumnKind.Timestamp, ValueRead.Timestamp, null),
        "timestamptz" => (ColumnKind.TimestampTz, ValueRead.TimestampTz, null),
        "uuid" => (ColumnKind.Uuid, ValueRead.Uuid, null),
        "json" or "jsonb" => (ColumnKind.Json, ValueRead.RawJson, "text"),
        "bytea" => (ColumnKind.Bytes, ValueRead.Bytes, null),
        "text" => (ColumnKind.Text, ValueRead.Text, null),
        // varchar, char, name, enums, intervals, inet, … : PostgreSQL's own text rendering.
        _ => (ColumnKind.Text, ValueRead.Text, "text"),
    };

    private static (ColumnKind Kind, ValueRead Read, string Cast) ArrayMapping(PostgresType element) => element.InternalName switch
    {
        "int2" => (ColumnKind.Integer, ValueRead.Int2Array, "int2[]"),
        "int4" => (ColumnKind.Integer, ValueRead.Int4Array, "int4[]"),
        "int8" => (ColumnKind.Integer, ValueRead.LongArray, "int8[]"),
        "numeric" => (ColumnKind.Decimal, ValueRead.DecimalArray, "text[]"),
        "float4" or "float8" => (ColumnKind.Float, ValueRead.DoubleArray, "float8[]"),
        "bool" => (ColumnKind.Boolean, ValueRead.BoolArray, "bool[]"),
        "date" => (ColumnKind.Date, ValueRead.DateArray, "date[]"),
        "timestamp" => (ColumnKind.Timestamp, ValueRead.TimestampArray, "timestamp[]"),
        "timestamptz" => (ColumnKind.TimestampTz, ValueRead.TimestampTzArray, "timestamptz[]"),
        "uuid" => (ColumnKind.Uuid, ValueRead.UuidArray, "uuid[]"),
        "json" or "jsonb" => (ColumnKind.Json, ValueRead.JsonArray, "text[]"),
        "bytea" => (ColumnKind.Bytes, ValueRead.BytesArray, "bytea[]"),
        _ => (ColumnKind.Text, ValueRead.TextArray, "text[]"),
    };

    /// <summary>The wire type each read uses; binary COPY needs it because its stream carries no type OIDs.</summary>
    public static NpgsqlDbType WireType(ValueRead read) => read switch
    {
        ValueRead.Long => NpgsqlDbType.Bigint,
        ValueRead.Double => NpgsqlDbType.Double,
        ValueRead.Bool => NpgsqlDbType.Boolean,
        ValueRead.Text or ValueRead.DecimalText or ValueRead.RawJson => NpgsqlDbType.Text,
        ValueRead.Geometry => NpgsqlDbType.Bytea,
        ValueRead.Date => NpgsqlDbType.Date,
        ValueRead.Timestamp => NpgsqlDbType.Timestamp,
        ValueRead.TimestampTz => NpgsqlDbType.TimestampTz,
        ValueRead.Uuid => NpgsqlDbType.Uuid,
        ValueRead.Bytes => NpgsqlDbType.Bytea,
        ValueRead.LongArray => NpgsqlDbType.Array | NpgsqlDbType.Bigint,
        ValueRead.Int4Array => NpgsqlDbType.Array | NpgsqlDbType.Integer,
        ValueRead.Int2Array => NpgsqlDbType.Array | NpgsqlDbType.Smallint,
        ValueRead.DoubleArray => NpgsqlDbType.Array | NpgsqlDbType.Double,
        ValueRead.BoolArray => NpgsqlDbType.Array | NpgsqlDbType.Boolean,
        ValueRead.TextArray or ValueRead.DecimalArray or ValueRead.JsonArray => NpgsqlDbType.Array | NpgsqlDbType.Text,
        ValueRead.DateArray => NpgsqlDbType.Array | NpgsqlDbType.Date,
        ValueRead.TimestampArray => NpgsqlDbType.Array | NpgsqlDbType.Timestamp,
        ValueRead.TimestampTzArray => NpgsqlDbType.Array | NpgsqlDbType.TimestampTz,
        ValueRead.UuidArray => NpgsqlDbType.Array | NpgsqlDbType.Uuid,
        ValueRead.BytesArray => NpgsqlDbType.Array | NpgsqlDbType.Bytea,
        _ => throw new ArgumentOutOfRangeException(nameof(read), read, null),
    };
}
