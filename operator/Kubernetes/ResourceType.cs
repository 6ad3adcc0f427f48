namespace BulkExport.Operator.Kubernetes;

/// <summary>
/// One API resource the operator talks to. Only the kinds the operator's RBAC grants are listed, so a
/// new kind here is also a new line in the ClusterRole.
/// </summary>
internal sealed record ResourceType(string Group, string Version, string Plural, string Kind, bool Namespaced = true)
{
    public static readonly ResourceType ExportSchedules = new("bulkexport.io", "v1alpha1", "exportschedules", "ExportSchedule");
    public static readonly ResourceType CronJobs = new("batch", "v1", "cronjobs", "CronJob");
    public static readonly ResourceType Jobs = new("batch", "v1", "jobs", "Job");
    public static readonly ResourceType Pods = new("", "v1", "pods", "Pod");
    public static readonly ResourceType ConfigMaps = new("", "v1", "configmaps", "ConfigMap");
    public static readonly ResourceType Secrets = new("", "v1", "secrets", "Secret");
    public static readonly ResourceType Events = new("", "v1", "events", "Event");
    public static readonly ResourceType Leases = new("coordination.k8s.io", "v1", "leases", "Lease");

    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>The collection path: <c>/api/v1/namespaces/ns/pods</c>, or across namespaces when <paramref name="ns"/> is null.</summary>
    public string CollectionPath(string? ns)
    {
        var root = Group.Length == 0 ? $"/api/{Version}" : $"/apis/{Group}/{Version}";
        return Namespaced && ns is not null
            ? $"{root}/namespaces/{Uri.EscapeDataString(ns)}/{Plural}"
            : $"{root}/{Plural}";
    }

    public string ItemPath(string? ns, string name) => $"{CollectionPath(ns)}/{Uri.EscapeDataString(name)}";
}
