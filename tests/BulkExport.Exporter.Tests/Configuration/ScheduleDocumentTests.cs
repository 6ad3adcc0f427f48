using BulkExport.Api;

namespace BulkExport.Exporter.Tests.Configuration;

public sealed class ScheduleDocumentTests
{
    internal const string Valid = """
        apiVersion: bulkexport.io/v1alpha1
        kind: ExportSchedule
        metadata:
          name: dar
        spec:
          register: DAR
          version: 1
          timeZone: Europe/Copenhagen
          total: {schedule: "0 3 * * 6"}
          delta: {schedule: "0 3 * * *"}
          source:
            files: {path: /data}
          entities:
            - name: Adresse
              key: [id]
              temporal: {registrationFrom: registreringfra, registrationTo: registreringtil, effectiveFrom: virkningfra, effectiveTo: virkningtil}
            - name: Postnummer
              key: [postnr]
          output:
            formats: [JSON, CSV]
            typesOfData: [Bitemporal, Current]
            maxUncompressedBytes: 1Gi
            maxRecordsPerFile: 250000
          storage:
            local: {path: ./out}
          retention: {deltas: 336h, totals: 168h}
        """;

    [Fact]
    public void ValidSchedule_BindsEveryField()
    {
        var schedule = ScheduleDocument.LoadYaml(Valid);

        Assert.Equal("dar", schedule.Metadata.Name);
        Assert.Equal("DAR", schedule.Spec.Register);
        Assert.Equal("Europe/Copenhagen", schedule.Spec.TimeZone);
        Assert.Equal("0 3 * * 6", schedule.Spec.Total.Schedule);
        Assert.Equal("/data", schedule.Spec.Source.Files!.Path);
        Assert.Equal(["id"], schedule.Spec.Entities[0].Key);
        Assert.Equal("virkningtil", schedule.Spec.Entities[0].Temporal!.EffectiveTo);
        Assert.Null(schedule.Spec.Entities[1].Temporal);
        Assert.Equal([OutputFormats.Json, OutputFormats.Csv], schedule.Spec.Output.Formats);
        Assert.Equal(1L << 30, Quantity.Parse(schedule.Spec.Output.MaxUncompressedBytes));
        Assert.Equal(250000, schedule.Spec.Output.MaxRecordsPerFile);
        Assert.Equal(TimeSpan.FromDays(14), GoDuration.Parse(schedule.Spec.Retention.Deltas));
        Assert.Equal("24h", schedule.Spec.Retention.Orphans);
    }

    [Fact]
    public void NumericQuantity_IsAcceptedAsBytes()
    {
        var schedule = ScheduleDocument.LoadYaml(Valid.Replace("maxUncompressedBytes: 1Gi", "maxUncompressedBytes: 1048576", StringComparison.Ordinal));

        Assert.Equal(1048576, Quantity.Parse(schedule.Spec.Output.MaxUncompressedBytes));
    }

    [Theory]
    [InlineData("register: DAR", "register: dar", "spec.register", "does not match")]
    [InlineData("  register: DAR\n", "", "spec.register", "required")]
    [InlineData("\"0 3 * * 6\"", "\"0 3 * *\"", "spec.total.schedule", "five fields")]
    [InlineData("\"0 3 * * *\"", "\"0 25 * * *\"", "spec.delta.schedule", "not a valid cron")]
    [InlineData("Europe/Copenhagen", "Europe/Kobenhavn", "spec.timeZone", "IANA")]
    [InlineData("      key: [postnr]\n", "", "spec.entities[1].key", "required")]
    [InlineData("key: [postnr]", "key: []", "spec.entities[1].key", "at least one")]
    [InlineData("files: {path: /data}", "files: {path: /data}\n    postgres: {connectionSecretRef: {name: db}}", "spec.source", "exactly one")]
    [InlineData("formats: [JSON, CSV]", "formats: [JSON, XML]", "spec.output.formats[1]", "not one of")]
    [InlineData("formats: [JSON, CSV]", "formats: [JSON, csv]", "spec.output.formats[1]", "did you mean 'CSV'")]
    [InlineData("name: Postnummer", "name: Adresse", "spec.entities[1].name", "used by another entity")]
    [InlineData("maxUncompressedBytes: 1Gi", "maxUncompressedBytes: 1GB", "spec.output.maxUncompressedBytes", "quantity")]
    [InlineData("deltas: 336h", "deltas: 14d", "spec.retention.deltas", "not a duration")]
    [InlineData("  entities:", "  entites:", "spec.entites", "unknown field")]
    [InlineData("version: 1", "version: 0", "spec.version", "between 1 and")]
    [InlineData("version: 1", "version: one", "spec.version", "whole number")]
    [InlineData(", effectiveTo: virkningtil}", "}", "spec.entities[0].temporal.effectiveTo", "required")]
    [InlineData("key: [id]", "key: [id]\n      query: SELECT 1", "spec.entities[0].query", "not supported with spec.source.files")]
    [InlineData("formats: [JSON, CSV]", "formats: [JSON, GEOJSON]", "spec.output.formats[1]", "geometry")]
    [InlineData("bulkexport.io/v1alpha1", "bulkexport.io/v1", "apiVersion", "not one of")]
    [InlineData("name: dar", "name: Dar_Register", "metadata.name", "does not match")]
    [InlineData("local: {path: ./out}", "s3: {bucket: Bad_Bucket}", "spec.storage.s3.bucket", "does not match")]
    [InlineData("local: {path: ./out}", "s3: {bucket: exports, endpoint: \"minio:9000\"}", "spec.storage.s3.endpoint", "absolute http")]
    [InlineData("local: {path: ./out}", "s3: {bucket: exports, readCredentialsSecretRef: {name: Read_Keys}}", "spec.storage.s3.readCredentialsSecretRef.name", "does not match")]
    [InlineData("local: {path: ./out}", "s3: {bucket: exports, readCredentialsSecretRef: {accessKeyIdKey: id}}", "spec.storage.s3.readCredentialsSecretRef.name", "required")]
    [InlineData("local: {path: ./out}", "s3: {bucket: exports, credentialsSecretRef: {name: w, secretKey: k}}", "spec.storage.s3.credentialsSecretRef.secretKey", "unknown field")]
    [InlineData("maxRecordsPerFile: 250000", "maxRecordsPerFile: 0", "spec.output.maxRecordsPerFile", "at least 1")]
    [InlineData("maxRecordsPerFile: 250000", "maxRecordsPerFile: 250000\n    compressionLevel: 0", "spec.output.compressionLevel", "between 1 and 9, got 0")]
    [InlineData("maxRecordsPerFile: 250000", "maxRecordsPerFile: 250000\n    compressionLevel: 10", "spec.output.compressionLevel", "between 1 and 9, got 10")]
    [InlineData("key: [id]", "key: [registreringfra]", "spec.entities[0].key[0]", "temporal column")]
    [InlineData("typesOfData: [Bitemporal, Current]", "typesOfData: [Bitemporal, Bitemporal]", "spec.output.typesOfData[1]", "listed twice")]
    public void Mistake_IsReportedWithFieldPathAndRule(string find, string replace, string path, string message)
    {
        Assert.Contains(find, Valid, StringComparison.Ordinal);
        var yaml = Valid.Replace(find, replace, StringComparison.Ordinal);

        var e = Assert.Throws<ScheduleValidationException>(() => ScheduleDocument.LoadYaml(yaml));

        Assert.Contains(e.Errors, error => error.Path == path && error.Message.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void SeveralMistakes_AreAllReportedAtOnce()
    {
        var yaml = Valid
            .Replace("register: DAR", "register: dar", StringComparison.Ordinal)
            .Replace("\"0 3 * * 6\"", "\"nonsense\"", StringComparison.Ordinal)
            .Replace("deltas: 336h", "deltas: forever", StringComparison.Ordinal);

        var e = Assert.Throws<ScheduleValidationException>(() => ScheduleDocument.LoadYaml(yaml));

        Assert.Equal(["spec.register", "spec.retention.deltas", "spec.total.schedule"], e.Errors.Select(x => x.Path).Order().ToArray());
    }

    [Fact]
    public void BrokenYaml_NamesLineAndColumn()
    {
        var e = Assert.Throws<ScheduleValidationException>(() => ScheduleDocument.LoadYaml("spec:\n  register: [DAR\n"));

        Assert.Contains("line", e.Errors.Single().Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MultiDocumentFile_PicksTheExportSchedule()
    {
        var yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n---\n" + Valid;

        Assert.Equal("DAR", ScheduleDocument.LoadYaml(yaml).Spec.Register);
    }

    [Theory]
    [InlineData("1Gi", 1073741824L)]
    [InlineData("500M", 500000000L)]
    [InlineData("1.5Ki", 1536L)]
    [InlineData("42", 42L)]
    public void Quantity_ParsesKubernetesSuffixes(string text, long bytes) => Assert.Equal(bytes, Quantity.Parse(text));

    [Theory]
    [InlineData("336h", 336 * 60)]
    [InlineData("1h30m", 90)]
    [InlineData("90m", 90)]
    public void GoDuration_ParsesHoursAndMinutes(string text, int minutes) => Assert.Equal(TimeSpan.FromMinutes(minutes), GoDuration.Parse(text));
}
