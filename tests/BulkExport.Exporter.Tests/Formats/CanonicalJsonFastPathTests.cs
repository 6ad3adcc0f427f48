using System.Buffers;
using System.Globalization;
using System.Text;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Rows;
using BulkExport.Publishing.Layout;

namespace BulkExport.Exporter.Tests.Formats;

/// <summary>
/// The reader-less canonical JSON path against the canonicaliser it shortcuts: whenever it accepts a
/// value its bytes are the canonicaliser's, it refuses whatever the canonicaliser refuses, and the
/// combined writer's bytes are always the canonicaliser's.
/// </summary>
public sealed class CanonicalJsonFastPathTests
{
    private static string General(string json)
    {
        var output = new ArrayBufferWriter<byte>();
        CanonicalJson.Write(Encoding.UTF8.GetBytes(json), output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    private static string? Fast(string json) => Fast(Encoding.UTF8.GetBytes(json));

    private static string? Fast(byte[] json)
    {
        var destination = new byte[json.Length];
        return CanonicalJsonFastPath.TryWrite(json, destination, out var written) ? Encoding.UTF8.GetString(destination, 0, written) : null;
    }

    private static string Combined(string json)
    {
        var output = new ArrayBufferWriter<byte>();
        CanonicalJsonFastPath.Write(Encoding.UTF8.GetBytes(json), output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    [Theory]
    [InlineData("{\"i\": 1, \"ok\": true, \"tag\": \"t1\"}", "{\"i\":1,\"ok\":true,\"tag\":\"t1\"}")]
    [InlineData("{\"a\": [1, 2.50, null, -0, 1E+5, 1e-7], \"b\": {\"c\": \"d\"}}", "{\"a\":[1,2.50,null,-0,1E+5,1e-7],\"b\":{\"c\":\"d\"}}")]
    [InlineData("{\"z\": 1, \"é\": \"ø \\\" \\\\ \\n \\u0001 \\u001f\"}", "{\"z\":1,\"é\":\"ø \\\" \\\\ \\n \\u0001 \\u001f\"}")]
    [InlineData(" [ ] ", "[]")]
    [InlineData("{}", "{}")]
    [InlineData("\"text\"", "\"text\"")]
    [InlineData("null", "null")]
    [InlineData("-12.5e3", "-12.5e3")]
    [InlineData("[{\"a\": {}}, [[], {\"b\": false}]]", "[{\"a\":{}},[[],{\"b\":false}]]")]
    public void CanonicalButForWhiteSpace_IsAccepted_WithTheCanonicalisersBytes(string json, string canonical)
    {
        Assert.Equal(canonical, General(json));
        Assert.Equal(canonical, Fast(json));
    }

    [Theory]
    // jsonb's order (shorter names first) where it is not code-point order.
    [InlineData("{\"b\": 1, \"aa\": 2}")]
    [InlineData("{\"a\": {\"z\": 1, \"ab\": 2}}")]
    // A repeated name: the last value wins in the canonical form.
    [InlineData("{\"a\": 1, \"a\": 2}")]
    // Escapes spelled otherwise than the canonical form spells them.
    [InlineData("\"\\u00e9\"")]
    [InlineData("\"\\/\"")]
    [InlineData("\"\\u001F\"")]
    [InlineData("\"\\u0009\"")]
    [InlineData("\"\\ud83d\\ude00\"")]
    // A name with an escape (its escaped bytes need not sort as its text).
    [InlineData("{\"a\\\"\": 1, \"a#\": 2}")]
    // Not canonical by construction: trailing text, BOM-less garbage, more than 32 levels.
    [InlineData("{\"a\": 1} x")]
    [InlineData("[1,]")]
    [InlineData("01")]
    [InlineData("1.")]
    [InlineData("tru")]
    [InlineData("truex")]
    [InlineData("\"raw\ttab\"")]
    [InlineData("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]")]
    [InlineData("")]
    [InlineData("   ")]
    public void AnythingElse_IsRefused_AndTheCombinedWriterGivesTheCanonicalisersBytesOrItsError(string json)
    {
        Assert.Null(Fast(json));
        string? general;
        try
        {
            general = General(json);
        }
        catch (System.Text.Json.JsonException)
        {
            general = null;
        }

        if (general is null)
        {
            Assert.ThrowsAny<System.Text.Json.JsonException>(() => Combined(json));
        }
        else
        {
            Assert.Equal(general, Combined(json));
        }
    }

    [Theory]
    [InlineData("{\"i\": 1, \"ok\": true}", true)]
    [InlineData("{\"b\": 1, \"aa\": 2}", false)]
    [InlineData("{\"a\": 1} x", false)]
    [InlineData("[1,]", false)]
    [InlineData("{\"a\": ", false)]
    public void JsonColumnOfABatchRow_IsEmbeddedVerbatim_AndMalformedTextStillFails(string json, bool fast)
    {
        Assert.Equal(fast, CanonicalJsonFastPath.IsWellFormed(Encoding.UTF8.GetBytes(json)));
        Column[] columns = [new("doc", ColumnKind.Json)];
        var batch = new RowBatch(columns, 1);
        batch.SetString(batch.AddRow(), 0, json);
        var encoder = RecordFormats.JsonLines.CreateEncoder(new FormatSchema("T", columns, [], null));
        var output = new ArrayBufferWriter<byte>();
        string? general;
        try
        {
            using var reader = System.Text.Json.JsonDocument.Parse(json);
            general = json;
        }
        catch (System.Text.Json.JsonException)
        {
            general = null;
        }

        if (general is null)
        {
            Assert.ThrowsAny<Exception>(() => { encoder.WriteRecord(batch.View(0), output); });
        }
        else
        {
            encoder.WriteRecord(batch.View(0), output);
            Assert.Equal("{\"doc\":" + json + "}\n", Encoding.UTF8.GetString(output.WrittenSpan));
        }
    }

    [Fact]
    public void InvalidUtf8_IsRefused()
    {
        Assert.Null(Fast([(byte)'"', 0xC3, (byte)'"']));
        Assert.Null(Fast([(byte)'"', 0xED, 0xA0, 0x80, (byte)'"']));
    }

    /// <summary>
    /// Random values in random spellings: names from a small alphabet with non-ASCII letters, sorted by
    /// code point, by jsonb's length-then-bytes rule, or not at all, sometimes repeated; strings with
    /// canonical and other escapes; numbers in every JSON form; random white space. Seeded, so a failure repeats.
    /// </summary>
    [Fact]
    public void RandomValues_WhereverAccepted_AreTheCanonicalisersBytes_AndRefusedWhereverItFails()
    {
        var random = new Random(20261203);
        var accepted = 0;
        var refused = 0;
        for (var n = 0; n < 20_000; n++)
        {
            var json = new StringBuilder();
            WriteValue(random, json, depth: 0);
            var text = json.ToString();
            string? general;
            try
            {
                general = General(text);
            }
            catch (System.Text.Json.JsonException)
            {
                general = null;
            }

            var fast = Fast(text);
            if (fast is not null)
            {
                Assert.True(general == fast, $"fast path differs for {text}: {fast} against {general}");
                accepted++;
            }
            else
            {
                refused++;
            }

            Assert.Equal(general, general is null ? null : Combined(text));
        }

        // Both paths were exercised, many times.
        Assert.True(accepted > 5_000, $"{accepted} accepted");
        Assert.True(refused > 2_000, $"{refused} refused");
    }

    private static readonly string[] NameParts = ["a", "b", "z", "A", "é", "ø", "😀", "1", " ", "_", "aa", "ab", "tag", "ok", "i"];

    private static void WriteValue(Random random, StringBuilder json, int depth)
    {
        var kind = random.Next(depth > 4 ? 4 : 7);
        switch (kind)
        {
            case 0:
                json.Append(random.Next(3) switch { 0 => "true", 1 => "false", _ => "null" });
                break;
            case 1:
                json.Append(Number(random));
                break;
            case 2:
            case 3:
                WriteString(random, json);
                break;
            case 4:
            case 5:
                var names = Enumerable.Range(0, random.Next(5)).Select(_ => string.Concat(Enumerable.Range(0, 1 + random.Next(3)).Select(_ => NameParts[random.Next(NameParts.Length)]))).ToList();
                names = random.Next(4) switch
                {
                    0 => [.. names.OrderBy(x => x, Comparer<string>.Create((x, y) => Encoding.UTF8.GetBytes(x).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y))))],
                    1 => [.. names.OrderBy(x => Encoding.UTF8.GetByteCount(x)).ThenBy(x => x, Comparer<string>.Create((x, y) => Encoding.UTF8.GetBytes(x).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y))))],
                    2 => [.. names.Distinct(StringComparer.Ordinal).OrderBy(x => x, Comparer<string>.Create((x, y) => Encoding.UTF8.GetBytes(x).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y))))],
                    _ => names,
                };
                json.Append('{');
                for (var i = 0; i < names.Count; i++)
                {
                    Space(random, json);
                    if (i > 0)
                    {
                        json.Append(',');
                        Space(random, json);
                    }

                    if (random.Next(20) == 0)
                    {
                        json.Append("\"\\u0061").Append(names[i]).Append('"');
                    }
                    else
                    {
                        json.Append('"').Append(names[i]).Append('"');
                    }

                    Space(random, json);
                    json.Append(':');
                    Space(random, json);
                    WriteValue(random, json, depth + 1);
                }

                Space(random, json);
                json.Append('}');
                break;
            default:
                json.Append('[');
                var count = random.Next(4);
                for (var i = 0; i < count; i++)
                {
                    Space(random, json);
                    if (i > 0)
                    {
                        json.Append(',');
                        Space(random, json);
                    }

                    WriteValue(random, json, depth + 1);
                }

                Space(random, json);
                json.Append(']');
                break;
        }

        if (depth == 0)
        {
            Space(random, json);
            if (random.Next(50) == 0)
            {
                json.Append(random.Next(2) == 0 ? "," : "x");
            }
        }
    }

    private static void WriteString(Random random, StringBuilder json)
    {
        json.Append('"');
        var length = random.Next(6);
        for (var i = 0; i < length; i++)
        {
            json.Append(random.Next(14) switch
            {
                0 => "\\\"",
                1 => "\\\\",
                2 => "\\n",
                3 => "\\t",
                4 => "\\u0001",
                5 => "\\u001f",
                6 => "\\u001F",
                7 => "\\u00e9",
                8 => "\\/",
                9 => "æ",
                10 => "😀",
                11 => random.Next(10) == 0 ? "\u0002" : "x",
                _ => NameParts[random.Next(NameParts.Length)],
            });
        }

        json.Append('"');
    }

    private static string Number(Random random) => random.Next(8) switch
    {
        0 => "0",
        1 => "-0",
        2 => random.Next(-1_000_000, 1_000_000).ToString(CultureInfo.InvariantCulture),
        3 => (random.NextDouble() * 1e6).ToString("R", CultureInfo.InvariantCulture),
        4 => "1.50",
        5 => "2e" + random.Next(-5, 400).ToString(CultureInfo.InvariantCulture),
        6 => "-3.25E+10",
        _ => random.Next(10) == 0 ? "01" : "123456789012345678901234567890",
    };

    private static void Space(Random random, StringBuilder json)
    {
        switch (random.Next(6))
        {
            case 0:
                json.Append(' ');
                break;
            case 1:
                json.Append("\n\t ");
                break;
            case 2:
                json.Append("\r\n");
                break;
        }
    }
}
