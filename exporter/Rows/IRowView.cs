using System.Text;

namespace BulkExport.Exporter.Rows;

/// <summary>
/// One row as a format sees it: typed getters by column index, in the style of Sep's
/// <c>SepReader.Col</c>. A view is borrowed: it (and every span it returns) is valid only until the
/// writer's <c>Write</c> call returns, because the source reuses its buffers for the next row.
/// </summary>
/// <remarks>
/// Which getter fits which <see cref="ColumnKind"/>:
/// Text, Decimal (canonical text, no exponent), Json (serialized) → <see cref="GetUtf8"/> or <see cref="GetString"/>;
/// Integer → <see cref="GetInt64"/>; Float → <see cref="GetDouble"/>; Boolean → <see cref="GetBoolean"/>;
/// Date → <see cref="GetDate"/>; Timestamp → <see cref="GetTimestamp"/> (Kind Unspecified);
/// TimestampTz → <see cref="GetTimestampTz"/> (UTC); Uuid → <see cref="GetGuid"/>; Bytes → <see cref="GetBytes"/>;
/// Geometry → <see cref="GetGeometryUtf8"/> (UTF-8, borrowed) or <see cref="GetGeometry"/> (boxed); Array → <see cref="GetArray"/> (elements as <see cref="GetValue"/> gives them).
/// A getter called on a null value or a column of another kind throws <see cref="InvalidOperationException"/> naming the column.
/// </remarks>
internal interface IRowView
{
    IReadOnlyList<Column> Columns { get; }

    bool IsNull(int column);

    ReadOnlySpan<byte> GetUtf8(int column);

    string GetString(int column);

    long GetInt64(int column);

    double GetDouble(int column);

    bool GetBoolean(int column);

    DateOnly GetDate(int column);

    DateTime GetTimestamp(int column);

    DateTimeOffset GetTimestampTz(int column);

    Guid GetGuid(int column);

    ReadOnlySpan<byte> GetBytes(int column);

    GeometryValue GetGeometry(int column);

    /// <summary>The geometry's GeoJSON and WKT as UTF-8 (borrowed like <see cref="GetUtf8"/>) and its SRID.</summary>
    GeometryUtf8 GetGeometryUtf8(int column);

    IReadOnlyList<object?> GetArray(int column);

    /// <summary>
    /// An Integer-element array held unboxed (one dimension, no NULL element; borrowed like <see cref="GetUtf8"/>);
    /// false when the view holds it boxed, which <see cref="GetArray"/> gives. The same value either way.
    /// </summary>
    bool TryGetInt64Array(int column, out ReadOnlySpan<long> values);

    /// <summary>The value in the CLR spelling of <see cref="ColumnKind"/>'s remarks, boxed; the slow path, for arrays and tests.</summary>
    object? GetValue(int column);
}

/// <summary>
/// A view over a row of boxed values (<c>object?[]</c>, the spelling of <see cref="ColumnKind"/>'s remarks).
/// It lets the sources and the delta machinery, which still move such rows, feed the typed seam; one
/// instance is reused for every row (<see cref="Reset"/>).
/// </summary>
internal sealed class ObjectRowView(IReadOnlyList<Column> columns) : IRowView
{
    // UTF-8 of the text columns of the current row, so a span stays valid until the next Reset.
    private readonly byte[]?[] _utf8 = new byte[]?[columns.Count];
    private readonly int[] _utf8Length = new int[columns.Count];
    private object?[] _values = [];
    private int _generation;
    private readonly int[] _utf8Generation = new int[columns.Count];

    public IReadOnlyList<Column> Columns => columns;

    /// <summary>Points the view at another row; the previous row's spans are invalid from here on.</summary>
    public ObjectRowView Reset(object?[] values)
    {
        if (values.Length != columns.Count)
        {
            throw new ArgumentException($"Row has {values.Length} values for {columns.Count} columns.", nameof(values));
        }

        _values = values;
        _generation++;
        return this;
    }

    public object?[] Values => _values;

    public bool IsNull(int column) => _values[column] is null;

    public object? GetValue(int column) => _values[column];

    public ReadOnlySpan<byte> GetUtf8(int column)
    {
        if (_utf8Generation[column] == _generation && _utf8[column] is { } cached)
        {
            return cached.AsSpan(0, _utf8Length[column]);
        }

        var text = GetString(column);
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        var buffer = _utf8[column];
        if (buffer is null || buffer.Length < max)
        {
            buffer = new byte[Math.Max(max, 64)];
            _utf8[column] = buffer;
        }

        _utf8Length[column] = Encoding.UTF8.GetBytes(text, buffer);
        _utf8Generation[column] = _generation;
        return buffer.AsSpan(0, _utf8Length[column]);
    }

    public string GetString(int column) => _values[column] switch
    {
        string s => s,
        DecimalText d => d.Text,
        RawJson j => j.Json,
        var other => throw Mismatch(column, other, "text"),
    };

    public long GetInt64(int column) => _values[column] is long v ? v : throw Mismatch(column, _values[column], "integer");

    public double GetDouble(int column) => _values[column] is double v ? v : throw Mismatch(column, _values[column], "float");

    public bool GetBoolean(int column) => _values[column] is bool v ? v : throw Mismatch(column, _values[column], "boolean");

    public DateOnly GetDate(int column) => _values[column] is DateOnly v ? v : throw Mismatch(column, _values[column], "date");

    public DateTime GetTimestamp(int column) => _values[column] is DateTime v ? v : throw Mismatch(column, _values[column], "timestamp");

    public DateTimeOffset GetTimestampTz(int column) => _values[column] is DateTimeOffset v ? v : throw Mismatch(column, _values[column], "timestamptz");

    public Guid GetGuid(int column) => _values[column] is Guid v ? v : throw Mismatch(column, _values[column], "uuid");

    public ReadOnlySpan<byte> GetBytes(int column) => _values[column] is byte[] v ? v : throw Mismatch(column, _values[column], "bytes");

    public GeometryValue GetGeometry(int column) => _values[column] is GeometryValue v ? v : throw Mismatch(column, _values[column], "geometry");

    public GeometryUtf8 GetGeometryUtf8(int column)
    {
        var g = GetGeometry(column);
        // GeoJSON then WKT in the column's buffer, kept until the next Reset like GetUtf8's.
        var max = Encoding.UTF8.GetMaxByteCount(g.GeoJson.Length) + Encoding.UTF8.GetMaxByteCount(g.Wkt.Length);
        var buffer = _utf8[column];
        if (buffer is null || buffer.Length < max)
        {
            buffer = new byte[Math.Max(max, 64)];
            _utf8[column] = buffer;
        }

        _utf8Generation[column] = _generation - 1; // not a GetUtf8 cache entry
        var json = Encoding.UTF8.GetBytes(g.GeoJson, buffer);
        var wkt = Encoding.UTF8.GetBytes(g.Wkt, buffer.AsSpan(json));
        return new GeometryUtf8(buffer.AsSpan(0, json), buffer.AsSpan(json, wkt), g.Srid);
    }

    public IReadOnlyList<object?> GetArray(int column) => _values[column] is object?[] v ? v : throw Mismatch(column, _values[column], "array");

    public bool TryGetInt64Array(int column, out ReadOnlySpan<long> values)
    {
        values = default;
        return false;
    }

    private InvalidOperationException Mismatch(int column, object? value, string wanted) =>
        new($"Column '{columns[column].Name}' ({columns[column].Kind}) holds {(value is null ? "null" : value.GetType().Name)}, not a {wanted} value.");
}
