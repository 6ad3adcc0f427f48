using System.Diagnostics;
using System.Text.Json;

namespace BulkExport.Exporter.Tests.Support;

/// <summary>
/// The readers users open the register formats with: GDAL's <c>ogrinfo</c>/<c>ogr2ogr</c> (Debian's
/// gdal-bin) and DuckDB (npm <c>@duckdb/node-api</c> in tests/duckdb). <c>.ci/install.sh</c> installs both.
/// </summary>
internal static class ReaderTools
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string DuckDbDirectory => Path.Combine(RepoPaths.Root, "tests", "duckdb");

    public static bool HasGdal { get; } = OnPath("ogrinfo") && OnPath("ogr2ogr");

    public static bool HasDuckDb { get; } = OnPath("node") && Directory.Exists(Path.Combine(DuckDbDirectory, "node_modules", "@duckdb", "node-api"));

    public static (int ExitCode, string Stdout, string Stderr) Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }

    /// <summary>Runs a tool that must succeed, and fails the test with its output otherwise.</summary>
    public static string Ok(string file, params string[] arguments)
    {
        var (code, stdout, stderr) = Run(file, arguments);
        Assert.True(code == 0, $"{file} {string.Join(' ', arguments)} exited {code}:\n{stdout}\n{stderr}");
        return stdout;
    }

    /// <summary><c>ogrinfo -so -al</c>: the summary of every layer (feature count, geometry, CRS, fields).</summary>
    public static string OgrInfoSummary(string path)
    {
        var (code, stdout, stderr) = Run("ogrinfo", "-ro", "-so", "-al", path);
        Assert.True(code == 0, $"ogrinfo {path} exited {code}:\n{stdout}\n{stderr}");
        // GDAL reports problems it works around as warnings on stderr; a file users open must have none.
        Assert.True(!stderr.Contains("ERROR", StringComparison.Ordinal) && !stderr.Contains("Warning", StringComparison.Ordinal), $"ogrinfo {path} complained:\n{stderr}");
        return stdout;
    }

    /// <summary>Converts with <c>ogr2ogr</c> to CSV (geometry as WKT) and returns the CSV; stderr must be clean.</summary>
    public static string Ogr2OgrCsv(string path, string outputDirectory)
    {
        var output = Path.Combine(outputDirectory, $"ogr2ogr-{Guid.NewGuid():N}.csv");
        var (code, stdout, stderr) = Run("ogr2ogr", "-f", "CSV", output, path, "-lco", "GEOMETRY=AS_WKT", "-lco", "LINEFORMAT=LF");
        // CSV cannot type a binary column, which GDAL warns about; errors are what a file must not cause.
        Assert.True(code == 0 && !stderr.Contains("ERROR", StringComparison.Ordinal), $"ogr2ogr {path} exited {code}:\n{stdout}\n{stderr}");
        return File.ReadAllText(output);
    }

    /// <summary>Asserts that a tool's output has every line fragment, showing the output when one is missing.</summary>
    public static void HasAll(string output, params string[] expected)
    {
        var missing = expected.Where(e => !output.Contains(e, StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, $"missing {string.Join(" | ", missing)} in:\n{output}");
    }

    /// <summary>Reads a Parquet file with DuckDB (tests/duckdb/read-parquet.mjs).</summary>
    public static JsonDocument DuckDbRead(string path)
    {
        var stdout = Ok("node", Path.Combine(DuckDbDirectory, "read-parquet.mjs"), path);
        return JsonDocument.Parse(stdout);
    }

    private static bool OnPath(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, command)));
}

/// <summary>
/// A fact that needs GDAL. Skipped, saying why, only on a developer machine without it: in CI
/// (CI=true) it runs and fails, since CI installs GDAL and a missing reader must not pass silently.
/// </summary>
internal sealed class GdalFactAttribute : FactAttribute
{
    public GdalFactAttribute()
    {
        if (!ReaderTools.HasGdal && !ReaderTools.InCi)
        {
            Skip = "GDAL's ogrinfo/ogr2ogr are not on PATH: run 'sudo bash .ci/install.sh' (apt-get install gdal-bin)";
        }
    }
}

/// <summary>A fact that needs DuckDB (tests/duckdb's node_modules); skipped only outside CI, like <see cref="GdalFactAttribute"/>.</summary>
internal sealed class DuckDbFactAttribute : FactAttribute
{
    public DuckDbFactAttribute()
    {
        if (!ReaderTools.HasDuckDb && !ReaderTools.InCi)
        {
            Skip = "DuckDB is not installed: run 'bash .ci/install.sh' (npm ci in tests/duckdb)";
        }
    }
}
