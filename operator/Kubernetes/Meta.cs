using System.Text.Json.Nodes;

namespace BulkExport.Operator.Kubernetes;

/// <summary>Accessors for the <c>metadata</c> every Kubernetes object carries, on untyped JSON.</summary>
internal static class Meta
{
    public static JsonObject Metadata(this JsonObject obj)
    {
        if (obj["metadata"] is JsonObject m)
        {
            return m;
        }

        var created = new JsonObject();
        obj["metadata"] = created;
        return created;
    }

    public static string Name(this JsonObject obj) => (string?)obj["metadata"]?["name"] ?? "";
    public static string? Namespace(this JsonObject obj) => (string?)obj["metadata"]?["namespace"];
    public static string? Uid(this JsonObject obj) => (string?)obj["metadata"]?["uid"];
    public static string? ResourceVersion(this JsonObject obj) => (string?)obj["metadata"]?["resourceVersion"];
    public static long Generation(this JsonObject obj) => long.TryParse(obj["metadata"]?["generation"]?.ToJsonString(), out var g) ? g : 0;

    public static string? Label(this JsonObject obj, string key) => (string?)obj["metadata"]?["labels"]?[key];

    public static string Key(this JsonObject obj) => Key(obj.Namespace(), obj.Name());

    public static string Key(string? ns, string name) => ns is null ? name : $"{ns}/{name}";

    public static (string? Namespace, string Name) SplitKey(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? (null, key) : (key[..slash], key[(slash + 1)..]);
    }

    public static bool IsControlledBy(this JsonObject obj, string uid) =>
        obj["metadata"]?["ownerReferences"] is JsonArray refs
        && refs.Any(r => (string?)r?["uid"] == uid && r?["controller"] is JsonValue c && c.TryGetValue<bool>(out var b) && b);
}
