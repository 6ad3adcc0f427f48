namespace BulkExport.Exporter.Pipeline;

/// <summary>Per-entity progress: a live line on a terminal, plain log lines in a pipe or a pod.</summary>
internal interface IExportProgress
{
    void EntityStarted(string entity);

    void EntityProgress(string entity, long rows, long uncompressedBytes);

    void EntityFinished(string entity, long rows, long compressedBytes, int files);
}

internal sealed class NoProgress : IExportProgress
{
    public static readonly NoProgress Instance = new();

    public void EntityStarted(string entity)
    {
    }

    public void EntityProgress(string entity, long rows, long uncompressedBytes)
    {
    }

    public void EntityFinished(string entity, long rows, long compressedBytes, int files)
    {
    }
}
