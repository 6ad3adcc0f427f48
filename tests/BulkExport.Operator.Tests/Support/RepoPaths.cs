namespace BulkExport.Operator.Tests.Support;

internal static class RepoPaths
{
    /// <summary>The repository root: the nearest directory above the test binaries holding Operator.sln.</summary>
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Operator.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException($"no Operator.sln above {AppContext.BaseDirectory}");
        }
    }

    public static string Crd => Path.Combine(AppContext.BaseDirectory, "crds", "exportschedules.bulkexport.io.yaml");
}
