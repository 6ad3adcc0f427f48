using BulkExport.Api;

namespace BulkExport.Operator.Reconciling;

/// <summary>
/// Rules that hold only for a schedule run by the operator in a cluster, beyond the shared
/// validator (which also serves the exporter CLI, where local paths are fine): the exporter pod has
/// a read-only root filesystem and no volumes but the ones the schedule names, so a files source or
/// a local store without a claim could never be read or written.
/// </summary>
internal static class ClusterRules
{
    public static IReadOnlyList<ValidationError> Validate(ExportSchedule schedule)
    {
        var errors = new List<ValidationError>();
        if (schedule.Spec.Source.Files is { ClaimName: null } files)
        {
            errors.Add(new ValidationError("spec.source.files.claimName",
                $"required when the operator runs the export: the exporter pod has a read-only root filesystem and no volume at {files.Path} unless a PersistentVolumeClaim is named"));
        }

        if (schedule.Spec.Storage.Local is { ClaimName: null } local)
        {
            errors.Add(new ValidationError("spec.storage.local.claimName",
                $"required when the operator runs the export: the exporter pod has a read-only root filesystem and no volume at {local.Path} unless a PersistentVolumeClaim is named"));
        }

        return errors;
    }
}
