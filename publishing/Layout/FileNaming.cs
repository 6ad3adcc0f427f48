using System.Globalization;

namespace BulkExport.Publishing.Layout;

/// <summary>
/// The storage layout of DESIGN.md, in one place: consumers and mirrors depend on these names.
/// </summary>
internal static class FileNaming
{
    public const string TotalDownload = "TotalDownload";
    public const string DeltaDownload = "DeltaDownload";

    public static string GenerationText(long generation) => generation.ToString("D10", CultureInfo.InvariantCulture);

    /// <summary><c>DAR_V1_Adresse_TotalDownload_JSON_Bitemporal_10</c>, with <c>_part2of3</c> when split.</summary>
    public static string BaseName(string register, int version, string entity, string typeOfDownload, string format, string typeOfData, long generation, int part, int partCount)
    {
        var name = $"{register}_V{version}_{entity}_{typeOfDownload}_{format}_{typeOfData}_{generation}";
        return partCount > 1 ? $"{name}_part{part}of{partCount}" : name;
    }

    public static string EntityFolder(string register, int version, string entity) => $"{register}/V{version}/{entity}/";

    public static string DataKey(string register, int version, string entity, string fileName) => EntityFolder(register, version, entity) + fileName;

    public static string GenerationsFolder(string register) => $"{register}/generations/";

    public static string ManifestKey(string register, long generation) => $"{GenerationsFolder(register)}{GenerationText(generation)}.json";

    /// <summary>The claim: created with create-new before anything named <paramref name="generation"/> is written.</summary>
    public static string ClaimKey(string register, long generation) => $"{GenerationsFolder(register)}{GenerationText(generation)}.claim";

    /// <summary>The finished manifest, written before the commit so a crash after the commit point can be rolled forward.</summary>
    public static string PendingKey(string register, long generation) => $"{GenerationsFolder(register)}{GenerationText(generation)}.pending";

    /// <summary>
    /// The commit point: the successor of a committed generation, created with create-new. Only one
    /// generation can ever follow a given base, so the delta chain stays linear under concurrent runs.
    /// </summary>
    public static string SuccessorKey(string register, long baseGeneration) => $"{GenerationsFolder(register)}{GenerationText(baseGeneration)}.next";

    public static string StateFolder(string register) => $"{register}/state/";

    public static string StateKey(string register, string entity, long generation) => $"{StateFolder(register)}{entity}/{GenerationText(generation)}.state";

    public static string CatalogKey(string register) => $"{register}/catalog.json";

    /// <summary>The detached JWS of the manifest of <paramref name="generation"/>, written before its commit.</summary>
    public static string ManifestSignatureKey(string register, long generation) => ManifestKey(register, generation) + ".jws";

    public static string KeysFolder(string register) => $"{register}/keys/";

    /// <summary>A public signing key as a JWK, named by its RFC 7638 thumbprint (the JWS <c>kid</c>).</summary>
    public static string PublicKeyKey(string register, string kid) => $"{KeysFolder(register)}{kid}.jwk";

    public static string SignaturesFolder(string register) => $"{register}/signatures/";

    /// <summary>
    /// The detached JWS of one version of the catalog, named by the SHA-256 of the catalog's bytes:
    /// it is created before the catalog it signs replaces the old one, so every catalog a reader
    /// can fetch already has its signature, whatever the timing of reads, writes and crashes.
    /// </summary>
    public static string CatalogSignatureKey(string register, string catalogSha256Hex) => $"{SignaturesFolder(register)}catalog-{catalogSha256Hex}.jws";

    public static bool TryParseGenerationFile(string key, string register, out long generation, out string suffix)
    {
        generation = 0;
        suffix = "";
        var folder = GenerationsFolder(register);
        if (!key.StartsWith(folder, StringComparison.Ordinal))
        {
            return false;
        }

        var name = key[folder.Length..];
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        if (dot != 10 || !long.TryParse(name.AsSpan(0, 10), NumberStyles.None, CultureInfo.InvariantCulture, out generation))
        {
            return false;
        }

        suffix = name[(dot + 1)..];
        return true;
    }
}
