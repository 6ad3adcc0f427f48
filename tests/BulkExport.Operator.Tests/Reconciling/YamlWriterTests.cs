using System.Text.Json;
using System.Text.Json.Nodes;
using BulkExport.Api;
using BulkExport.Operator.Reconciling;
using BulkExport.Operator.Tests.Support;

namespace BulkExport.Operator.Tests.Reconciling;

public sealed class YamlWriterTests
{
    [Fact]
    public void A_parsed_element_and_a_node_tree_give_the_same_bytes_for_every_kind_of_value()
    {
        // Plain and quoted scalars, reserved words, numbers, booleans, null, multi-line text with and
        // without a final newline, empty and nested collections, and objects inside sequences.
        const string json = """
            {"name":"dar","yes":"yes","number-like":"1e3","count":3,"ratio":0.25,"big":12345678901234,"on":true,"off":false,
             "none":null,"text":"line 1\nline 2\n","open":"a\n\nb","empty":{},"list":[],"quoted":"a: b #c","unicode":"Århus",
             "items":[{"name":"Adresse","key":["id","ver"]},{"only":1},[1,[2,3]],"plain",null,{},[]],
             "nested":{"deeper":{"x":[{"y":{"z":"w"}}]}}}
            """;

        Assert.Equal(YamlWriter.Write(JsonNode.Parse(json)), YamlWriter.Write(JsonDocument.Parse(json).RootElement));
    }

    [Fact]
    public void The_exporter_config_from_the_sample_schedule_is_what_the_node_tree_gives()
    {
        var schedule = ScheduleDocument.LoadFile(TestSchedules.SamplePath);
        var clean = new ExportSchedule { Metadata = new() { Name = schedule.Metadata.Name, Namespace = schedule.Metadata.Namespace }, Spec = schedule.Spec };

        Assert.Equal(YamlWriter.Write(JsonSerializer.SerializeToNode(clean, ScheduleDocument.JsonOptions)), DesiredState.ExporterConfig(schedule));
    }
}
