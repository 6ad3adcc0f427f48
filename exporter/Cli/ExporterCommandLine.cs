namespace BulkExport.Exporter.Cli;

internal static class ExporterCommandLine
{
    // Replaced by the System.CommandLine tree as the exporter core lands.
    public static Task<int> RunAsync(string[] args) => Task.FromResult(args.Length == 0 ? 2 : 2);
}
