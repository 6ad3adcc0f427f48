using System.Globalization;
using System.Text.RegularExpressions;
using BulkExport.Api;
using Microsoft.AspNetCore.Http;

namespace BulkExport.Server.Endpoints;

/// <summary>
/// The parameter rules of the Datafordeleren guide, checked before anything is looked up: names are
/// matched case-insensitively, an unknown, repeated, empty or malformed parameter is a 400 naming it.
/// </summary>
internal static partial class QueryRules
{
    /// <summary>Longest accepted Filename; catalog names are far shorter.</summary>
    public const int MaxFilenameLength = 255;

    /// <summary>The parameters present, by their canonical name; or the 400 detail.</summary>
    public static bool TryRead(IQueryCollection query, string endpoint, string[] allowed, out Dictionary<string, string> values, out string? error)
    {
        values = new Dictionary<string, string>(StringComparer.Ordinal);
        error = null;
        foreach (var (name, value) in query)
        {
            var canonical = allowed.FirstOrDefault(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase));
            if (canonical is null)
            {
                error = $"unknown parameter '{Printable(name)}'; {endpoint} takes {string.Join(", ", allowed)}";
                return false;
            }

            if (value.Count != 1 || values.ContainsKey(canonical))
            {
                error = $"{canonical}: given more than once";
                return false;
            }

            if (string.IsNullOrWhiteSpace(value[0]))
            {
                error = $"{canonical}: empty";
                return false;
            }

            values[canonical] = value[0]!;
        }

        return true;
    }

    public static string? CheckRegister(string value) =>
        RegisterPattern().IsMatch(value) ? null : $"Register: '{Printable(value)}' is not a register code (letters and digits, starting with a letter, at most 32)";

    public static string? CheckEntity(string value, string parameter) =>
        EntityPattern().IsMatch(value) ? null : $"{parameter}: '{Printable(value)}' is not an entity name (letters and digits, starting with a letter)";

    public static string? CheckVersion(string value, out int version) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out version) && version >= 1
            ? null
            : $"Version: '{Printable(value)}' is not a version number (a whole number from 1)";

    public static string? CheckTypeOfData(string value, string parameter, out string typeOfData)
    {
        typeOfData = TypesOfData.All.FirstOrDefault(t => string.Equals(t, value, StringComparison.OrdinalIgnoreCase)) ?? "";
        return typeOfData.Length > 0 ? null : $"{parameter}: '{Printable(value)}' is not one of {string.Join(", ", TypesOfData.All)}";
    }

    public static string? CheckFormat(string value, string parameter) =>
        FormatPattern().IsMatch(value) ? null : $"{parameter}: '{Printable(value)}' is not a file format (letters and digits, e.g. JSON, CSV)";

    /// <summary>
    /// A Filename is only ever a catalog lookup key, but anything that could be mistaken for a path or
    /// smuggle bytes (separators, dot segments, control characters, overlong names) is refused outright.
    /// </summary>
    public static string? CheckFilename(string value)
    {
        if (value.Length > MaxFilenameLength)
        {
            return $"Filename: longer than {MaxFilenameLength} characters";
        }

        if (value.Any(char.IsControl))
        {
            return "Filename: contains control characters";
        }

        if (value.Contains('/', StringComparison.Ordinal) || value.Contains('\\', StringComparison.Ordinal) || value.Contains("..", StringComparison.Ordinal))
        {
            return $"Filename: '{Printable(value)}' is a path; give the file name only, as GetAvailableFileDownloads lists it";
        }

        return FilenamePattern().IsMatch(value) ? null : $"Filename: '{Printable(value)}' is not a file name of this service (letters, digits, '_', '-', '.')";
    }

    /// <summary>Echoed values are cut and stripped of control characters, so an error message cannot carry them.</summary>
    private static string Printable(string value)
    {
        var clean = new string([.. value.Take(80).Select(c => char.IsControl(c) ? '?' : c)]);
        return value.Length > 80 ? clean + "…" : clean;
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]{0,31}$")]
    private static partial Regex RegisterPattern();

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]{0,127}$")]
    private static partial Regex EntityPattern();

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]{0,15}$")]
    private static partial Regex FormatPattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    private static partial Regex FilenamePattern();
}
