using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;

namespace BulkExport.Publishing.Verification;

/// <summary>
/// WKB (as PARQUET and, inside a GeoPackage blob, GPKG publish geometry) back to the GeoJSON geometry
/// object the JSON formats publish: each coordinate as the shortest text that reads back to its double
/// (the spelling of PostGIS's <c>ST_AsGeoJSON(g, 15)</c> and of the exporter's WKT), and PostGIS's short
/// <c>crs</c> member for an SRID other than 0 and 4326. Written apart from the exporter's writers on
/// purpose: verify should not trust the code whose output it checks.
/// </summary>
/// <remarks>ISO WKB (type + 1000/2000/3000 for Z/M/ZM) and EWKB flags are both read; Z and M ordinates are kept as GeoJSON's third and fourth positions.</remarks>
internal static class WkbToGeoJson
{
    private static readonly string[] TypeNames =
        ["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon", "GeometryCollection"];

    /// <summary>Writes the geometry of <paramref name="wkb"/>; throws <see cref="FormatException"/> for bytes that are not WKB.</summary>
    public static void Write(ReadOnlySpan<byte> wkb, int? srid, Utf8JsonWriter json)
    {
        var reader = new Reader(wkb);
        reader.Geometry(json, srid is { } s && s != 0 && s != 4326 ? s : null);
        if (reader.Position != wkb.Length)
        {
            throw new FormatException($"{wkb.Length - reader.Position} bytes after the WKB geometry");
        }
    }

    internal static void WriteCrs(Utf8JsonWriter json, int srid)
    {
        json.WriteStartObject("crs");
        json.WriteString("type", "name");
        json.WriteStartObject("properties");
        json.WriteString("name", "EPSG:" + srid.ToString(CultureInfo.InvariantCulture));
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>A coordinate as the JSON formats spell it: the shortest round-trip text ("R").</summary>
    internal static void WriteCoordinate(Utf8JsonWriter json, double value)
    {
        if (!double.IsFinite(value))
        {
            throw new FormatException($"coordinate {value.ToString(CultureInfo.InvariantCulture)} has no GeoJSON spelling");
        }

        json.WriteRawValue(value.ToString("R", CultureInfo.InvariantCulture), skipInputValidation: true);
    }

    private ref struct Reader(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private bool _little;

        public int Position { get; private set; }

        public void Geometry(Utf8JsonWriter json, int? crs)
        {
            _little = Byte() switch
            {
                0 => false,
                1 => true,
                var b => throw new FormatException($"byte order {b} at {Position - 1} is neither 0 nor 1"),
            };
            var raw = UInt32();
            var dimensions = 2;
            if ((raw & 0x80000000) != 0)
            {
                dimensions++;
            }

            if ((raw & 0x40000000) != 0)
            {
                dimensions++;
            }

            if ((raw & 0x20000000) != 0)
            {
                UInt32(); // An EWKB SRID: the file's CRS is the caller's.
            }

            var type = raw & 0x0FFFFFFF;
            switch (type / 1000)
            {
                case 1 or 2: dimensions = 3; break;
                case 3: dimensions = 4; break;
            }

            type %= 1000;
            if (type is < 1 or > 7)
            {
                throw new FormatException($"WKB geometry type {raw} at {Position - 4} is not one of the seven simple feature types");
            }

            var name = TypeNames[type - 1];
            json.WriteStartObject();
            json.WriteString("type", name);
            if (crs is { } srid)
            {
                WriteCrs(json, srid);
            }

            switch (type)
            {
                case 1:
                    json.WritePropertyName("coordinates");
                    Point(json, dimensions);
                    break;
                case 2:
                    json.WritePropertyName("coordinates");
                    Positions(json, dimensions);
                    break;
                case 3:
                    json.WritePropertyName("coordinates");
                    Rings(json, dimensions);
                    break;
                case 4 or 5 or 6:
                    json.WritePropertyName("coordinates");
                    json.WriteStartArray();
                    var count = Count();
                    for (var i = 0; i < count; i++)
                    {
                        Member(json, type - 3);
                    }

                    json.WriteEndArray();
                    break;
                default:
                    json.WriteStartArray("geometries");
                    var members = Count();
                    for (var i = 0; i < members; i++)
                    {
                        Geometry(json, null);
                    }

                    json.WriteEndArray();
                    break;
            }

            json.WriteEndObject();
        }

        /// <summary>A member of a Multi* geometry: a whole WKB geometry of the member type, written as its coordinates only.</summary>
        private void Member(Utf8JsonWriter json, uint expected)
        {
            _little = Byte() switch
            {
                0 => false,
                1 => true,
                var b => throw new FormatException($"byte order {b} at {Position - 1} is neither 0 nor 1"),
            };
            var raw = UInt32();
            var dimensions = 2 + ((raw & 0x80000000) != 0 ? 1 : 0) + ((raw & 0x40000000) != 0 ? 1 : 0);
            if ((raw & 0x20000000) != 0)
            {
                UInt32();
            }

            var type = raw & 0x0FFFFFFF;
            dimensions = (type / 1000) switch { 1 or 2 => 3, 3 => 4, _ => dimensions };
            if (type % 1000 != expected)
            {
                throw new FormatException($"a {TypeNames[expected + 2]} member at {Position - 4} has WKB type {raw}");
            }

            switch (expected)
            {
                case 1: Point(json, dimensions); break;
                case 2: Positions(json, dimensions); break;
                default: Rings(json, dimensions); break;
            }
        }

        /// <summary>A point's position; NaN in every ordinate is WKB's empty point, GeoJSON's empty coordinates.</summary>
        private void Point(Utf8JsonWriter json, int dimensions)
        {
            Span<double> values = stackalloc double[dimensions];
            for (var i = 0; i < dimensions; i++)
            {
                values[i] = Double();
            }

            json.WriteStartArray();
            if (!(double.IsNaN(values[0]) && double.IsNaN(values[1])))
            {
                foreach (var v in values)
                {
                    WriteCoordinate(json, v);
                }
            }

            json.WriteEndArray();
        }

        private void Positions(Utf8JsonWriter json, int dimensions)
        {
            var count = Count();
            json.WriteStartArray();
            for (var i = 0; i < count; i++)
            {
                json.WriteStartArray();
                for (var d = 0; d < dimensions; d++)
                {
                    WriteCoordinate(json, Double());
                }

                json.WriteEndArray();
            }

            json.WriteEndArray();
        }

        private void Rings(Utf8JsonWriter json, int dimensions)
        {
            var rings = Count();
            json.WriteStartArray();
            for (var r = 0; r < rings; r++)
            {
                Positions(json, dimensions);
            }

            json.WriteEndArray();
        }

        private int Count()
        {
            var count = UInt32();
            return count <= (uint)(_bytes.Length - Position) ? (int)count : throw new FormatException($"count {count} at {Position - 4} exceeds the WKB's length");
        }

        private byte Byte() => Position < _bytes.Length ? _bytes[Position++] : throw Truncated();

        private uint UInt32()
        {
            if (Position + 4 > _bytes.Length)
            {
                throw Truncated();
            }

            var span = _bytes.Slice(Position, 4);
            Position += 4;
            return _little ? BinaryPrimitives.ReadUInt32LittleEndian(span) : BinaryPrimitives.ReadUInt32BigEndian(span);
        }

        private double Double()
        {
            if (Position + 8 > _bytes.Length)
            {
                throw Truncated();
            }

            var span = _bytes.Slice(Position, 8);
            Position += 8;
            return _little ? BinaryPrimitives.ReadDoubleLittleEndian(span) : BinaryPrimitives.ReadDoubleBigEndian(span);
        }

        private readonly FormatException Truncated() => new($"the WKB ends at {_bytes.Length} bytes inside a geometry");
    }
}
