using System.Globalization;
using BulkExport.Api;

namespace BulkExport.Exporter.Formats.Geo;

/// <summary>
/// A coordinate reference system as the files describe it: OGC WKT (GeoPackage's
/// <c>gpkg_spatial_ref_sys</c>), PROJJSON (GeoParquet's <c>crs</c>) and a GML <c>srsName</c>.
/// </summary>
/// <param name="Epsg">EPSG code.</param>
/// <param name="Name">EPSG name, e.g. <c>ETRS89 / UTM zone 32N</c>.</param>
/// <param name="Geographic">Latitude/longitude: GML writes these axes in the EPSG order (latitude first).</param>
/// <param name="Wkt">OGC WKT 1, the spelling GDAL writes into <c>gpkg_spatial_ref_sys</c>.</param>
/// <param name="ProjJson">PROJJSON (v0.7 schema), the spelling GeoParquet 1.1 requires.</param>
internal sealed record Crs(int Epsg, string Name, bool Geographic, string Wkt, string ProjJson)
{
    /// <summary>The URN form GML 3.2 uses; it also tells readers to honour the EPSG axis order.</summary>
    public string SrsName => $"urn:ogc:def:crs:EPSG::{Epsg.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>
/// Built-in definitions of <see cref="SupportedCrs.Codes"/>. The image carries no PROJ database
/// (proj.db and gdalsrsinfo are not there at run time), so the few systems Danish and European
/// registers use are spelled out here, generated from their parameters; any other code is refused
/// by the schedule validator rather than written without a definition.
/// </summary>
internal static class CrsDefinitions
{
    private const string Schema = "https://proj.org/schemas/v0.7/projjson.schema.json";

    private static readonly Datum Wgs84 = new("WGS 84", "WGS_1984", "World Geodetic System 1984", "WGS 84", 298.257223563, 6326, 7030, 4326);
    private static readonly Datum Etrs89 = new("ETRS89", "European_Terrestrial_Reference_System_1989", "European Terrestrial Reference System 1989", "GRS 1980", 298.257222101, 6258, 7019, 4258);

    private static readonly Dictionary<int, Crs> ByCode = new[]
    {
        Geographic(Wgs84),
        Geographic(Etrs89),
        Utm(25832, Etrs89, 32),
        Utm(25833, Etrs89, 33),
        Utm(32632, Wgs84, 32),
        Utm(32633, Wgs84, 33),
        PseudoMercator(),
    }.ToDictionary(c => c.Epsg);

    public static IReadOnlyCollection<int> Codes => ByCode.Keys;

    public static bool TryGet(int epsg, out Crs crs) => ByCode.TryGetValue(epsg, out crs!);

    /// <param name="epsg">The code.</param>
    /// <param name="where">What asked for it, for the error (e.g. <c>entity Adresse, key (id=7)</c>).</param>
    public static Crs Get(int epsg, string where) => TryGet(epsg, out var crs)
        ? crs
        : throw new FormatException($"{where}: EPSG:{epsg} has no built-in definition (GPKG, GML and PARQUET record the CRS and the exporter does not reproject); supported: {string.Join(", ", SupportedCrs.Codes)}");

    private sealed record Datum(string Name, string WktName, string FullName, string Ellipsoid, double InverseFlattening, int DatumCode, int EllipsoidCode, int GeographicCode);

    private static string N(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string GeogCs(Datum d) =>
        $"GEOGCS[\"{d.Name}\",DATUM[\"{d.WktName}\",SPHEROID[\"{d.Ellipsoid}\",6378137,{N(d.InverseFlattening)},AUTHORITY[\"EPSG\",\"{d.EllipsoidCode}\"]],AUTHORITY[\"EPSG\",\"{d.DatumCode}\"]],"
        + "PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],"
        + $"AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\",EAST],AUTHORITY[\"EPSG\",\"{d.GeographicCode}\"]]";

    private static string GeogJson(Datum d, bool withSchema) =>
        "{" + (withSchema ? $"\"$schema\":\"{Schema}\"," : "")
        + $"\"type\":\"GeographicCRS\",\"name\":\"{d.Name}\","
        + $"\"datum\":{{\"type\":\"GeodeticReferenceFrame\",\"name\":\"{d.FullName}\",\"ellipsoid\":{{\"name\":\"{d.Ellipsoid}\",\"semi_major_axis\":6378137,\"inverse_flattening\":{N(d.InverseFlattening)}}}}},"
        + "\"coordinate_system\":{\"subtype\":\"ellipsoidal\",\"axis\":["
        + "{\"name\":\"Geodetic latitude\",\"abbreviation\":\"Lat\",\"direction\":\"north\",\"unit\":\"degree\"},"
        + "{\"name\":\"Geodetic longitude\",\"abbreviation\":\"Lon\",\"direction\":\"east\",\"unit\":\"degree\"}]},"
        + $"\"id\":{{\"authority\":\"EPSG\",\"code\":{d.GeographicCode}}}}}";

    private static Crs Geographic(Datum d) => new(d.GeographicCode, d.Name, true, GeogCs(d), GeogJson(d, withSchema: true));

    private static string Parameter(string name, double value, string unit, int code) =>
        $"{{\"name\":\"{name}\",\"value\":{N(value)},\"unit\":\"{unit}\",\"id\":{{\"authority\":\"EPSG\",\"code\":{code}}}}}";

    private const string CartesianEastNorth =
        "\"coordinate_system\":{\"subtype\":\"Cartesian\",\"axis\":["
        + "{\"name\":\"Easting\",\"abbreviation\":\"E\",\"direction\":\"east\",\"unit\":\"metre\"},"
        + "{\"name\":\"Northing\",\"abbreviation\":\"N\",\"direction\":\"north\",\"unit\":\"metre\"}]}";

    private static Crs Utm(int code, Datum d, int zone)
    {
        var name = $"{d.Name} / UTM zone {zone}N";
        var meridian = (zone * 6) - 183;
        var wkt = $"PROJCS[\"{name}\",{GeogCs(d)},PROJECTION[\"Transverse_Mercator\"],PARAMETER[\"latitude_of_origin\",0],PARAMETER[\"central_meridian\",{meridian}],"
            + "PARAMETER[\"scale_factor\",0.9996],PARAMETER[\"false_easting\",500000],PARAMETER[\"false_northing\",0],"
            + $"UNIT[\"metre\",1,AUTHORITY[\"EPSG\",\"9001\"]],AXIS[\"Easting\",EAST],AXIS[\"Northing\",NORTH],AUTHORITY[\"EPSG\",\"{code}\"]]";
        var json = $"{{\"$schema\":\"{Schema}\",\"type\":\"ProjectedCRS\",\"name\":\"{name}\",\"base_crs\":{GeogJson(d, withSchema: false)},"
            + $"\"conversion\":{{\"name\":\"UTM zone {zone}N\",\"method\":{{\"name\":\"Transverse Mercator\",\"id\":{{\"authority\":\"EPSG\",\"code\":9807}}}},\"parameters\":["
            + string.Join(",", Parameter("Latitude of natural origin", 0, "degree", 8801), Parameter("Longitude of natural origin", meridian, "degree", 8802),
                Parameter("Scale factor at natural origin", 0.9996, "unity", 8805), Parameter("False easting", 500000, "metre", 8806), Parameter("False northing", 0, "metre", 8807))
            + $"]}},{CartesianEastNorth},\"id\":{{\"authority\":\"EPSG\",\"code\":{code}}}}}";
        return new Crs(code, name, false, wkt, json);
    }

    private static Crs PseudoMercator()
    {
        const string name = "WGS 84 / Pseudo-Mercator";
        var wkt = $"PROJCS[\"{name}\",{GeogCs(Wgs84)},PROJECTION[\"Mercator_1SP\"],PARAMETER[\"central_meridian\",0],PARAMETER[\"scale_factor\",1],"
            + "PARAMETER[\"false_easting\",0],PARAMETER[\"false_northing\",0],UNIT[\"metre\",1,AUTHORITY[\"EPSG\",\"9001\"]],AXIS[\"Easting\",EAST],AXIS[\"Northing\",NORTH],"
            + "EXTENSION[\"PROJ4\",\"+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs\"],AUTHORITY[\"EPSG\",\"3857\"]]";
        var json = $"{{\"$schema\":\"{Schema}\",\"type\":\"ProjectedCRS\",\"name\":\"{name}\",\"base_crs\":{GeogJson(Wgs84, withSchema: false)},"
            + "\"conversion\":{\"name\":\"Popular Visualisation Pseudo-Mercator\",\"method\":{\"name\":\"Popular Visualisation Pseudo Mercator\",\"id\":{\"authority\":\"EPSG\",\"code\":1024}},\"parameters\":["
            + string.Join(",", Parameter("Latitude of natural origin", 0, "degree", 8801), Parameter("Longitude of natural origin", 0, "degree", 8802),
                Parameter("False easting", 0, "metre", 8806), Parameter("False northing", 0, "metre", 8807))
            + $"]}},{CartesianEastNorth},\"id\":{{\"authority\":\"EPSG\",\"code\":3857}}}}";
        return new Crs(3857, name, false, wkt, json);
    }
}
