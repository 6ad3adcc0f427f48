namespace BulkExport.Exporter.Rows;

/// <summary>
/// The value kinds the exporter moves. Every source maps its native types onto these, and every
/// format (and the CSV's SQL DDL) is driven by them, so one mapping decides how a value looks everywhere.
/// </summary>
/// <remarks>
/// CLR representation of a non-null value, per kind:
/// Text → string; Integer → long; Decimal → <see cref="DecimalText"/> (exact, any precision);
/// Float → double; Boolean → bool; Date → DateOnly; Timestamp → DateTime (Kind Unspecified);
/// TimestampTz → DateTimeOffset (UTC); Uuid → Guid; Json → <see cref="RawJson"/>;
/// Bytes → byte[]; Geometry → <see cref="GeometryValue"/> (in a batch: <see cref="GeometryUtf8"/>); Array → object?[] of ElementKind values.
/// </remarks>
internal enum ColumnKind
{
    Text,
    Integer,
    Decimal,
    Float,
    Boolean,
    Date,
    Timestamp,
    TimestampTz,
    Uuid,
    Json,
    Bytes,
    Geometry,
    Array,
}

/// <param name="Name">Column name as it appears in every format.</param>
/// <param name="Kind">Value kind.</param>
/// <param name="ElementKind">For <see cref="ColumnKind.Array"/>: the element kind.</param>
/// <param name="SqlType">The source's own SQL type (e.g. <c>numeric(12,2)</c>) when it has one; the DDL prefers it.</param>
internal sealed record Column(string Name, ColumnKind Kind, ColumnKind? ElementKind = null, string? SqlType = null, bool Nullable = true);

/// <summary>An exact decimal number as its canonical text (no exponent), so no precision is lost.</summary>
internal readonly record struct DecimalText(string Text)
{
    public override string ToString() => Text;
}

/// <summary>A JSON value kept as its serialized text, embedded verbatim in JSON formats.</summary>
internal readonly record struct RawJson(string Json)
{
    public override string ToString() => Json;
}

/// <summary>
/// A geometry in the two spellings the formats need: GeoJSON for JSON formats, WKT for CSV. The boxed
/// form (the files source, the delta codec, tests); a <see cref="RowBatch"/> keeps the same as UTF-8
/// bytes and hands out <see cref="GeometryUtf8"/> views.
/// </summary>
internal sealed record GeometryValue(string GeoJson, string Wkt, int? Srid = null);

/// <summary>
/// A borrowed view of a geometry's UTF-8 GeoJSON and WKT (and SRID), valid as long as the row view that
/// gave it: what <see cref="GeometryValue"/> holds, without two UTF-16 strings per row.
/// </summary>
internal readonly ref struct GeometryUtf8(ReadOnlySpan<byte> geoJson, ReadOnlySpan<byte> wkt, int? srid)
{
    public ReadOnlySpan<byte> GeoJson { get; } = geoJson;

    public ReadOnlySpan<byte> Wkt { get; } = wkt;

    public int? Srid { get; } = srid;

    public GeometryValue ToValue() => new(System.Text.Encoding.UTF8.GetString(GeoJson), System.Text.Encoding.UTF8.GetString(Wkt), Srid);
}

/// <summary>The boxed CLR spellings a kind accepts, shared by the row batch and the formats' boxed paths.</summary>
internal static class BoxedValues
{
    /// <summary>An Integer value: any CLR integer that fits a long.</summary>
    public static bool TryInt64(object value, out long result)
    {
        switch (value)
        {
            case long l: result = l; return true;
            case int i: result = i; return true;
            case short s: result = s; return true;
            case sbyte sb: result = sb; return true;
            case byte b: result = b; return true;
            case ushort us: result = us; return true;
            case uint ui: result = ui; return true;
            case ulong ul when ul <= long.MaxValue: result = (long)ul; return true;
            default: result = 0; return false;
        }
    }

    /// <summary>A Float value: a CLR floating-point number, a decimal, or a long or int.</summary>
    public static bool TryDouble(object value, out double result)
    {
        switch (value)
        {
            case double d: result = d; return true;
            case float f: result = f; return true;
            case decimal m: result = (double)m; return true;
            case long l: result = l; return true;
            case int i: result = i; return true;
            default: result = 0; return false;
        }
    }
}
