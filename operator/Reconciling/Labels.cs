namespace BulkExport.Operator.Reconciling;

internal static class Labels
{
    public const string ManagedBy = "app.kubernetes.io/managed-by";
    public const string ManagedByValue = "bulkexport-operator";
    public const string Schedule = "bulkexport.io/schedule";
    public const string Type = "bulkexport.io/type";
    public const string JobName = "batch.kubernetes.io/job-name";
    public const string DesiredHash = Runtime.Drift.HashAnnotation;

    /// <summary>On an ExportSchedule: <c>total:NONCE</c> or <c>delta:NONCE</c> starts one run of that type per new nonce.</summary>
    public const string RunNow = "bulkexport.io/run-now";

    /// <summary>How <c>kubectl create job --from=cronjob/...</c> marks a Job started by hand.</summary>
    public const string Instantiate = "cronjob.kubernetes.io/instantiate";

    /// <summary>Selects everything the operator created, for the watches of owned objects.</summary>
    public const string ManagedSelector = ManagedBy + "=" + ManagedByValue;

    public const string Total = "total";
    public const string Delta = "delta";
}
