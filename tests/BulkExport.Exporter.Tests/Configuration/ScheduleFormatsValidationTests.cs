using BulkExport.Api;
using BulkExport.Exporter.Formats.Geo;

namespace BulkExport.Exporter.Tests.Configuration;

/// <summary>What the validator says about GPKG, GML and PARQUET and the settings they bring.</summary>
public sealed class ScheduleFormatsValidationTests
{
    private const string Valid = """
        apiVersion: bulkexport.io/v1alpha1
        kind: ExportSchedule
        metadata:
          name: dar
        spec:
          register: DAR
          total: {schedule: "0 3 * * 6"}
          delta: {schedule: "0 3 * * *"}
          source:
            files: {path: /data}
          entities:
            - name: Adresse
              key: [id]
              geometry: {column: geom, epsg: 25832}
            - name: Postnummer
              key: [postnr]
              formats: [JSON, GPKG, PARQUET]
          output:
            formats: [JSON, GPKG, GML, PARQUET]
            parquetCompression: SNAPPY
          storage:
            local: {path: ./out}
        """;

    [Fact]
    public void ValidSchedule_BindsEpsgEntityFormatsAndCodec()
    {
        var spec = ScheduleDocument.LoadYaml(Valid).Spec;

        Assert.Equal(25832, spec.Entities[0].Geometry!.Epsg);
        Assert.Null(spec.Entities[0].Formats);
        Assert.Equal([OutputFormats.Json, OutputFormats.GeoPackage, OutputFormats.Parquet], spec.Entities[1].Formats);
        Assert.Equal([OutputFormats.Json, OutputFormats.GeoPackage, OutputFormats.Gml, OutputFormats.Parquet], spec.Output.Formats);
        Assert.Equal(ParquetCompression.Snappy, spec.Output.ParquetCompression);
        Assert.Equal(ParquetCompression.Zstd, new OutputSpec().ParquetCompression);
    }

    [Theory]
    [InlineData("formats: [JSON, GPKG, PARQUET]", "formats: [JSON, GML]", "spec.entities[1].formats[1]", "GML needs a geometry")]
    [InlineData("formats: [JSON, GPKG, PARQUET]", "formats: [CSV]", "spec.entities[1].formats[0]", "not in spec.output.formats")]
    [InlineData("formats: [JSON, GPKG, PARQUET]", "formats: [JSON, gpkg]", "spec.entities[1].formats[1]", "did you mean 'GPKG'")]
    [InlineData("epsg: 25832", "epsg: 2196", "spec.entities[0].geometry.epsg", "EPSG:2196 is not one the exporter has a definition for")]
    [InlineData("epsg: 25832", "epsg: utm", "spec.entities[0].geometry.epsg", "whole number")]
    [InlineData("parquetCompression: SNAPPY", "parquetCompression: LZ4", "spec.output.parquetCompression", "ZSTD")]
    [InlineData("geometry: {column: geom, epsg: 25832}", "temporal: null", "spec.output.formats[2]", "GML needs at least one entity with a geometry")]
    public void Mistake_IsReportedWithFieldPathAndRule(string find, string replace, string path, string message)
    {
        Assert.Contains(find, Valid, StringComparison.Ordinal);
        var yaml = Valid.Replace(find, replace, StringComparison.Ordinal);

        var e = Assert.Throws<ScheduleValidationException>(() => ScheduleDocument.LoadYaml(yaml));

        Assert.Contains(e.Errors, error => error.Path == path && error.Message.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void EverySupportedCode_HasABuiltInDefinition_AndNoOtherDoes()
    {
        Assert.Equal(SupportedCrs.Codes.Order(), CrsDefinitions.Codes.Order());
        foreach (var code in SupportedCrs.Codes)
        {
            Assert.True(CrsDefinitions.TryGet(code, out var crs));
            Assert.Contains($"AUTHORITY[\"EPSG\",\"{code}\"]]", crs.Wkt, StringComparison.Ordinal);
            using var json = System.Text.Json.JsonDocument.Parse(crs.ProjJson);
            Assert.Equal(code, json.RootElement.GetProperty("id").GetProperty("code").GetInt32());
        }
    }
}
