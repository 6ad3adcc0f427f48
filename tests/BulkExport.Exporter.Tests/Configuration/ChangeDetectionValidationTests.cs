using BulkExport.Api;

namespace BulkExport.Exporter.Tests.Configuration;

/// <summary>What the validator says about entities[].changeDetection: xmin only for a postgres table entity that is not temporal.</summary>
public sealed class ChangeDetectionValidationTests
{
    private const string Valid = """
        apiVersion: bulkexport.io/v1alpha1
        kind: ExportSchedule
        metadata:
          name: pg
        spec:
          register: PGR
          total: {schedule: "0 3 * * 6"}
          delta: {schedule: "0 3 * * *"}
          source:
            postgres: {connectionSecretRef: {name: db}}
          entities:
            - name: Vej
              table: public.vej
              key: [id]
              changeDetection: xmin
          output:
            formats: [CSV]
          storage:
            local: {path: ./out}
        """;

    [Fact]
    public void Xmin_OnAPostgresTable_Binds_AndUnsetMeansCompare()
    {
        Assert.True(ChangeDetectionModes.IsXmin(ScheduleDocument.LoadYaml(Valid).Spec.Entities[0]));
        var unset = ScheduleDocument.LoadYaml(Valid.Replace("      changeDetection: xmin\n", "", StringComparison.Ordinal)).Spec.Entities[0];
        Assert.Null(unset.ChangeDetection);
        Assert.False(ChangeDetectionModes.IsXmin(unset));
        Assert.Equal(ChangeDetectionModes.Compare, ScheduleDocument.LoadYaml(Valid.Replace("changeDetection: xmin", "changeDetection: compare", StringComparison.Ordinal)).Spec.Entities[0].ChangeDetection);
    }

    [Theory]
    [InlineData("changeDetection: xmin", "changeDetection: ctid", "must be one of compare, xmin")]
    [InlineData("table: public.vej", "query: SELECT * FROM vej", "xmin needs a table entity")]
    [InlineData("key: [id]", "key: [id]\n      temporal: {registrationFrom: rf, registrationTo: rt, effectiveFrom: ef, effectiveTo: et}", "not supported for temporal entities")]
    [InlineData("postgres: {connectionSecretRef: {name: db}}", "files: {path: /data}", "not supported with spec.source.files")]
    public void Mistake_IsReportedAtTheField(string find, string replace, string message)
    {
        Assert.Contains(find, Valid, StringComparison.Ordinal);
        var yaml = Valid.Replace(find, replace, StringComparison.Ordinal);

        var e = Assert.Throws<ScheduleValidationException>(() => ScheduleDocument.LoadYaml(yaml));

        Assert.Contains(e.Errors, error => error.Path == "spec.entities[0].changeDetection" && error.Message.Contains(message, StringComparison.Ordinal));
    }
}
