using System.Globalization;

namespace BulkExport.Exporter;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var code = await Cli.ExporterCommandLine.RunAsync(args).ConfigureAwait(false);
        // The bench reads the runtime's own counters per run (bench/hotpath-bench.sh): allocations
        // are the hot path's main cost driver beside CPU, and only the process itself can tell them;
        // so is the JIT's share (methods compiled, tier-1 re-compilations included, and their time).
        if (Environment.GetEnvironmentVariable("BULKEXPORT_BENCH_STATS") is { Length: > 0 } statsFile)
        {
            var line = string.Create(
                CultureInfo.InvariantCulture,
                $"allocated_bytes={GC.GetTotalAllocatedBytes(precise: true)} gc0={GC.CollectionCount(0)} gc1={GC.CollectionCount(1)} gc2={GC.CollectionCount(2)} cpu_ms={Environment.CpuUsage.TotalTime.TotalMilliseconds:F0} jit_methods={System.Runtime.JitInfo.GetCompiledMethodCount()} jit_ms={System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds:F0}\n");
            await File.AppendAllTextAsync(statsFile, line).ConfigureAwait(false);
        }

        return code;
    }
}
