using System.Text.Json.Nodes;

namespace BulkExport.Operator.Kubernetes;

internal enum WatchEventType
{
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
}

internal sealed record WatchEvent(WatchEventType Type, JsonObject Object)
{
    public static WatchEventType ParseType(string? type) => type switch
    {
        "ADDED" => WatchEventType.Added,
        "MODIFIED" => WatchEventType.Modified,
        "DELETED" => WatchEventType.Deleted,
        "BOOKMARK" => WatchEventType.Bookmark,
        _ => WatchEventType.Error,
    };
}

/// <summary>A page of a list: the items and the collection's resourceVersion to watch from.</summary>
internal sealed record ObjectList(IReadOnlyList<JsonObject> Items, string ResourceVersion);
