using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace BulkExport.Operator.Reconciling;

/// <summary>
/// Block-style YAML for JSON trees, for <c>operator render</c> and the exporter config in the
/// ConfigMap. Deterministic (same input, same bytes), so that the ConfigMap never churns.
/// </summary>
internal static partial class YamlWriter
{
    [GeneratedRegex(@"^[A-Za-z_/][A-Za-z0-9_./()'\[\]-]*$")]
    private static partial Regex PlainScalar();

    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
    };

    public static string Write(JsonNode? node)
    {
        var sb = new StringBuilder();
        WriteNode(sb, node, 0, inSequence: false);
        return sb.ToString();
    }

    /// <summary>
    /// The same YAML from a parsed element, byte for byte: the exporter config is written from the
    /// serializer's document without building a node tree first (materializing the tree was most
    /// of the config's cost on the operator's first pass).
    /// </summary>
    public static string Write(JsonElement element)
    {
        var sb = new StringBuilder();
        WriteElement(sb, element, 0, inSequence: false);
        return sb.ToString();
    }

    public static string WriteDocuments(IEnumerable<JsonNode> documents) =>
        string.Join("---\n", documents.Select(Write));

    private static void WriteNode(StringBuilder sb, JsonNode? node, int indent, bool inSequence)
    {
        switch (node)
        {
            case JsonObject o when o.Count > 0:
                var first = true;
                foreach (var (key, value) in o)
                {
                    if (!(first && inSequence))
                    {
                        sb.Append(' ', indent);
                    }

                    first = false;
                    sb.Append(Scalar(key)).Append(':');
                    WriteValue(sb, value, indent);
                }

                break;
            case JsonArray a when a.Count > 0:
                foreach (var item in a)
                {
                    sb.Append(' ', indent).Append("- ");
                    if (item is JsonObject { Count: > 0 } or JsonArray { Count: > 0 })
                    {
                        if (item is JsonArray)
                        {
                            sb.Append('\n');
                            WriteNode(sb, item, indent + 2, inSequence: false);
                        }
                        else
                        {
                            WriteNode(sb, item, indent + 2, inSequence: true);
                        }
                    }
                    else
                    {
                        sb.Append(Inline(item)).Append('\n');
                    }
                }

                break;
            default:
                sb.Append(Inline(node)).Append('\n');
                break;
        }
    }

    private static void WriteValue(StringBuilder sb, JsonNode? value, int indent)
    {
        if (value is JsonObject { Count: > 0 })
        {
            sb.Append('\n');
            WriteNode(sb, value, indent + 2, inSequence: false);
        }
        else if (value is JsonArray { Count: > 0 })
        {
            sb.Append('\n');
            WriteNode(sb, value, indent, inSequence: false);
        }
        else if (value is JsonValue v && v.GetValueKind() == JsonValueKind.String && ((string)v!).Contains('\n', StringComparison.Ordinal))
        {
            WriteBlockScalar(sb, (string)v!, indent);
        }
        else
        {
            sb.Append(' ').Append(Inline(value)).Append('\n');
        }
    }

    // A multi-line string as a literal block (|, or |- without a final newline), as kubectl users read it.
    private static void WriteBlockScalar(StringBuilder sb, string text, int indent)
    {
        sb.Append(text.EndsWith('\n') ? " |\n" : " |-\n");
        foreach (var line in text.TrimEnd('\n').Split('\n'))
        {
            if (line.Length > 0)
            {
                sb.Append(' ', indent + 2).Append(line);
            }

            sb.Append('\n');
        }
    }

    private static void WriteElement(StringBuilder sb, JsonElement element, int indent, bool inSequence)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object when NonEmpty(element):
                var first = true;
                foreach (var property in element.EnumerateObject())
                {
                    if (!(first && inSequence))
                    {
                        sb.Append(' ', indent);
                    }

                    first = false;
                    sb.Append(Scalar(property.Name)).Append(':');
                    WriteElementValue(sb, property.Value, indent);
                }

                break;
            case JsonValueKind.Array when element.GetArrayLength() > 0:
                foreach (var item in element.EnumerateArray())
                {
                    sb.Append(' ', indent).Append("- ");
                    if (item.ValueKind == JsonValueKind.Array && item.GetArrayLength() > 0)
                    {
                        sb.Append('\n');
                        WriteElement(sb, item, indent + 2, inSequence: false);
                    }
                    else if (item.ValueKind == JsonValueKind.Object && NonEmpty(item))
                    {
                        WriteElement(sb, item, indent + 2, inSequence: true);
                    }
                    else
                    {
                        sb.Append(Inline(item)).Append('\n');
                    }
                }

                break;
            default:
                sb.Append(Inline(element)).Append('\n');
                break;
        }
    }

    private static void WriteElementValue(StringBuilder sb, JsonElement value, int indent)
    {
        if (value.ValueKind == JsonValueKind.Object && NonEmpty(value))
        {
            sb.Append('\n');
            WriteElement(sb, value, indent + 2, inSequence: false);
        }
        else if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() > 0)
        {
            sb.Append('\n');
            WriteElement(sb, value, indent, inSequence: false);
        }
        else if (value.ValueKind == JsonValueKind.String && value.GetString()!.Contains('\n', StringComparison.Ordinal))
        {
            WriteBlockScalar(sb, value.GetString()!, indent);
        }
        else
        {
            sb.Append(' ').Append(Inline(value)).Append('\n');
        }
    }

    private static bool NonEmpty(JsonElement obj)
    {
        using var properties = obj.EnumerateObject();
        return properties.MoveNext();
    }

    private static string Inline(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => "null",
        JsonValueKind.Object => "{}",
        JsonValueKind.Array => "[]",
        JsonValueKind.String => Scalar(element.GetString()!),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        // As JsonNode.ToJsonString writes a number: the text the serializer wrote.
        _ => element.GetRawText(),
    };

    private static string Inline(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "{}",
        JsonArray => "[]",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => Scalar((string)v!),
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValueKind() == JsonValueKind.True ? "true" : "false",
        _ => node.ToJsonString(),
    };

    private static string Scalar(string text) =>
        PlainScalar().IsMatch(text) && !Reserved.Contains(text) && !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
            ? text
            : JsonSerializer.Serialize(text);
}
