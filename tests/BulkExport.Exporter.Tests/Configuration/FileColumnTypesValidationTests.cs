using BulkExport.Api;

namespace BulkExport.Exporter.Tests.Configuration;

/// <summary>What the validator says about a files-source entity's declared column types (entities[].columns).</summary>
public sealed class FileColumnTypesValidationTests
{
    private const string Valid = """
        apiVersion: bulkexport.io/v1alpha1
        kind: ExportSchedule
        metadata:
          name: files
        spec:
          register: FIL
          total: {schedule: "0 3 * * 6"}
          delta: {schedule: "0 3 * * *"}
          source:
            files: {path: /data}
          entities:
            - name: Vej
              key: [id]
              geometry: {column: geom}
              columns: {id: integer, amount: "numeric(7,2)", total: numeric, day: date, active: boolean, score: float, uid: uuid, at: timestamptz, note: text}
          output:
            formats: [PARQUET]
          storage:
            local: {path: ./out}
        """;

    [Fact]
    public void DeclaredTypes_BindInTheirOrder()
    {
        var columns = ScheduleDocument.LoadYaml(Valid).Spec.Entities[0].Columns!;

        Assert.Equal(["id", "amount", "total", "day", "active", "score", "uid", "at", "note"], columns.Keys);
        Assert.Equal("numeric(7,2)", columns["amount"]);
        Assert.True(FileColumnTypes.TryParse("numeric(7,2)", out var name, out var precision, out var scale));
        Assert.Equal((FileColumnTypes.Numeric, 7, 2), (name, precision!.Value, scale));
    }

    [Theory]
    [InlineData("integer", true)]
    [InlineData("numeric(38,38)", true)]
    [InlineData("numeric(5)", true)]
    [InlineData("numeric(39,2)", false)]
    [InlineData("numeric(3,4)", false)]
    [InlineData("numeric(0,0)", false)]
    [InlineData("Integer", false)]
    [InlineData("double", false)]
    public void TheCrdPattern_AndTheValidator_AcceptTheSameTypes_ExceptPrecisionLimitsOnlyTheValidatorKnows(string type, bool valid)
    {
        // The CRD's pattern cannot compare p with s or cap p at 38; the validator does.
        var pattern = System.Text.RegularExpressions.Regex.IsMatch(type, FileColumnTypes.Pattern);
        Assert.Equal(valid, FileColumnTypes.TryParse(type, out _, out _, out _));
        Assert.Equal(valid || type is "numeric(39,2)" or "numeric(3,4)", pattern);
    }

    [Theory]
    [InlineData("score: float", "score: double", "spec.entities[0].columns.score", "must be one of text, integer, numeric")]
    [InlineData("amount: \"numeric(7,2)\"", "amount: \"numeric(7,8)\"", "spec.entities[0].columns.amount", "0 <= s <= p")]
    [InlineData("amount: \"numeric(7,2)\"", "amount: \"numeric(39)\"", "spec.entities[0].columns.amount", "1 <= p <= 38")]
    [InlineData("note: text", "note: 5", "spec.entities[0].columns.note", "must be one of")]
    [InlineData("note: text", "geom: text", "spec.entities[0].columns.geom", "is the geometry column")]
    [InlineData("note: text", "\"bad-name\": text", "spec.entities[0].columns.bad-name", "is not a column name")]
    [InlineData("files: {path: /data}", "postgres: {connectionSecretRef: {name: db}}", "spec.entities[0].columns", "only for spec.source.files")]
    public void Mistake_IsReportedWithFieldPathAndRule(string find, string replace, string path, string message)
    {
        Assert.Contains(find, Valid, StringComparison.Ordinal);
        var yaml = Valid.Replace(find, replace, StringComparison.Ordinal);

        var e = Assert.Throws<ScheduleValidationException>(() => ScheduleDocument.LoadYaml(yaml));

        Assert.Contains(e.Errors, error => error.Path == path && error.Message.Contains(message, StringComparison.Ordinal));
    }
}
