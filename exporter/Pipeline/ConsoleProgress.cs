using System.Globalization;

namespace BulkExport.Exporter.Pipeline;

/// <summary>A live progress line per entity on an interactive terminal (stderr).</summary>
internal sealed class ConsoleProgress(TextWriter output) : IExportProgress
{
    private readonly Lock _lock = new();
    private long _lastTick;

    public void EntityStarted(string entity)
    {
        lock (_lock)
        {
            output.Write($"\r\u001b[K  {entity}: reading…");
        }
    }

    public void EntityProgress(string entity, long rows, long uncompressedBytes)
    {
        var now = Environment.TickCount64;
        if (now - _lastTick < 200)
        {
            return;
        }

        _lastTick = now;
        lock (_lock)
        {
            output.Write($"\r\u001b[K  {entity}: {rows.ToString("N0", CultureInfo.InvariantCulture)} rows, {Bytes(uncompressedBytes)} written");
        }
    }

    public void EntityFinished(string entity, long rows, long compressedBytes, int files)
    {
        lock (_lock)
        {
            output.WriteLine($"\r\u001b[K  {entity}: {rows.ToString("N0", CultureInfo.InvariantCulture)} rows, {files} files, {Bytes(compressedBytes)} zipped");
        }
    }

    internal static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:F1} KiB",
        < 1024L * 1024 * 1024 => $"{bytes / 1024.0 / 1024:F1} MiB",
        _ => $"{bytes / 1024.0 / 1024 / 1024:F2} GiB",
    };
}
