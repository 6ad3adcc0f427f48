using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using k8s;

namespace BulkExport.Operator.Runtime;

/// <summary>
/// Typed views of cached objects: the informers keep the API server's JSON (which the drift check
/// compares field by field and the writes send back with every field a newer server added), and a
/// reconciler reads them as the client's typed models. Each cached object is converted once, by the
/// client's own serializer; a new version is a new object and gets its own view.
/// </summary>
internal static class Typed
{
    private static readonly ConditionalWeakTable<JsonObject, object> Views = [];

    public static T Of<T>(JsonObject obj)
        where T : class
    {
        if (Views.TryGetValue(obj, out var view) && view is T typed)
        {
            return typed;
        }

        var fresh = KubernetesJson.Deserialize<T>(obj.ToJsonString());
        Views.AddOrUpdate(obj, fresh);
        return fresh;
    }
}
