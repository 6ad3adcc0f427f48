using System.Text.Json.Nodes;
using BulkExport.Operator.Kubernetes;

namespace BulkExport.Operator.Tests.Kubernetes;

public sealed class MergePatchTests
{
    [Theory]
    // Unchanged members are left out, changed ones sent, removed ones deleted with null.
    [InlineData("""{"a":1,"b":2,"c":3}""", """{"a":1,"b":5}""", """{"b":5,"c":null}""")]
    // Objects are patched member by member, arrays replaced whole.
    [InlineData("""{"o":{"x":1,"y":2},"l":[1,2]}""", """{"o":{"x":1},"l":[2]}""", """{"o":{"y":null},"l":[2]}""")]
    // Nothing before: everything is sent.
    [InlineData("null", """{"a":{"b":1}}""", """{"a":{"b":1}}""")]
    public void The_patch_between_two_documents_turns_the_first_into_the_second(string from, string to, string expected)
    {
        var patch = MergePatch.Between(JsonNode.Parse(from), JsonNode.Parse(to));

        Assert.Equal(expected, patch!.ToJsonString());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(to), Apply(JsonNode.Parse(from), patch)));
    }

    /// <summary>RFC 7386's MergePatch, to check the patch against its definition.</summary>
    private static JsonNode? Apply(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject p)
        {
            return patch?.DeepClone();
        }

        var result = target as JsonObject ?? [];
        foreach (var (key, value) in p)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                result[key] = Apply(result[key]?.DeepClone(), value);
            }
        }

        return result;
    }
}
