namespace BulkExport.Exporter;

internal static class Program
{
    public static Task<int> Main(string[] args) => Cli.ExporterCommandLine.RunAsync(args);
}
