using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Files;

namespace BulkExport.Exporter.Tests.Sources;

/// <summary>The files source's byte-level fast paths accept and give exactly what the text paths they shortcut do.</summary>
public sealed class FileValuesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("file-values-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("2024-01-01T00:00:00Z")]
    [InlineData("2024-02-29T23:59:59.9999999Z")]
    [InlineData("2024-02-29T12:00:00.1Z")]
    [InlineData("2024-01-01T01:00:00+02:00")]
    [InlineData("2024-01-01T01:00:00.123-13:59")]
    [InlineData("0002-01-01T00:00:00+13:00")]
    [InlineData("9998-12-31T23:59:59-13:00")]
    [InlineData("0001-01-01T00:00:00Z")]
    [InlineData("9999-12-31T23:59:59.9999999Z")]
    [InlineData("2024-01-01T00:00:00+14:00")]
    [InlineData("2024-01-01T00:00:00-14:00")]
    [InlineData("2024-01-01T00:00:00+15:00")]
    [InlineData("2023-02-29T00:00:00Z")]
    [InlineData("2024-13-01T00:00:00Z")]
    [InlineData("2024-01-01T24:00:00Z")]
    [InlineData("2024-01-01T23:60:00Z")]
    [InlineData("2024-01-01T23:59:60Z")]
    [InlineData("2024-01-01T00:00:00.12345678Z")]
    [InlineData("2024-01-01T00:00:00.Z")]
    [InlineData("2024-01-01T00:00:00")]
    [InlineData("2024-01-01T00:00:00+02")]
    [InlineData("2024-01-01T00:00:00+0200")]
    [InlineData("2024-01-01 00:00:00Z")]
    [InlineData(" 2024-01-01T00:00:00Z ")]
    [InlineData("2024-01-01T00:00Z")]
    [InlineData("2024-01-01")]
    [InlineData("2024-1-01T00:00:00Z")]
    [InlineData("２０２４-01-01T00:00:00Z")]
    [InlineData("not a time")]
    public void TimestampFromUtf8_AcceptsAndGivesWhatTheTextParserDoes(string text)
    {
        var fromText = FileValues.TryParseTimestamp(text, out var expected);
        var fromBytes = FileValues.TryParseTimestamp(Encoding.UTF8.GetBytes(text), out var actual);

        Assert.Equal(fromText, fromBytes);
        Assert.Equal(expected.UtcTicks, actual.UtcTicks);
        Assert.Equal(expected.Offset, actual.Offset);
    }

    private async Task<SourceException?> ReadAsync(string jsonl)
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "T.jsonl"), jsonl, new UTF8Encoding(false));
        var entity = new EntitySpec { Name = "T", Key = ["id"] };
        var source = new FilesSource(new FilesSourceSpec { Path = _dir }, [entity], TimeProvider.System);
        try
        {
            await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
            await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);
            var batch = new RowBatch(reader.Columns, 4);
            while (await reader.FillAsync(batch, CancellationToken.None))
            {
                batch.Clear();
            }

            return null;
        }
        catch (SourceException e)
        {
            return e;
        }
    }

    [Fact]
    public async Task Jsonl_SameNameInSiblingAndNestedObjects_IsNotADuplicate()
    {
        Assert.Null(await ReadAsync("{\"id\":1,\"j\":{\"x\":[{\"x\":1},{\"x\":2}],\"y\":{\"x\":{\"x\":1}},\"z\":[]}}\n"));
    }

    [Theory]
    [InlineData("{\"a\":[{\"x\":1,\"y\":2,\"x\":3}]}", "x")]
    [InlineData("{\"a\":{\"b\":1},\"\\u0061\":2}", "a")]
    [InlineData("{\"æ\":1,\"\\u00e6\":2}", "æ")]
    public async Task Jsonl_DuplicateMemberAnywhereInAJsonValue_FailsNamingLineColumnAndMember(string value, string member)
    {
        var e = await ReadAsync("{\"id\":1,\"j\":{}}\n{\"id\":2,\"j\":" + value + "}\n");

        Assert.NotNull(e);
        Assert.Contains("T.jsonl:2", e.Message, StringComparison.Ordinal);
        Assert.Contains("column 'j'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{member}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jsonl_DuplicateInAnObjectTooLargeForPairs_IsStillFound()
    {
        var members = string.Join(",", Enumerable.Range(0, 200).Select(i => $"\"m{i}\":{i}"));
        Assert.Null(await ReadAsync("{\"id\":1,\"j\":{" + members + "}}\n"));
        var e = await ReadAsync("{\"id\":1,\"j\":{" + members + ",\"m7\":0}}\n");

        Assert.NotNull(e);
        Assert.Contains("T.jsonl:1", e.Message, StringComparison.Ordinal);
        Assert.Contains("column 'j'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0")]
    [InlineData("1")]
    [InlineData("1.01")]
    [InlineData("-99999.99")]
    [InlineData("100")]
    [InlineData("0.5")]
    [InlineData("0.0001")]
    [InlineData("0.000123456789012345")]
    [InlineData("123456789012345")]
    [InlineData("12345678901234.5")]
    [InlineData("1131.28571428571")]
    public void CanonicalShortDoubles_ParseToDoubleParsesBits_AndAreItsShortestText(string text)
    {
        Assert.True(FileValues.TryParseCanonicalDouble(Encoding.ASCII.GetBytes(text), out var fast));
        AssertSameAsGeneralPath(text, fast);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData("+1")]
    [InlineData(".5")]
    [InlineData("1.")]
    [InlineData("1.50")]
    [InlineData("0.0")]
    [InlineData("00")]
    [InlineData("01")]
    [InlineData("0.00001")]
    [InlineData("1e5")]
    [InlineData("1E5")]
    [InlineData("1234567890123456")]
    [InlineData("1131.2857142857142")]
    [InlineData("1.2.3")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData(" 1")]
    public void OtherFloatSpellings_AreLeftToTheGeneralParse(string text) =>
        Assert.False(FileValues.TryParseCanonicalDouble(Encoding.ASCII.GetBytes(text), out _));

    [Fact]
    public void RandomDecimalSpellings_TheFastPathTakesOnlyCanonicalOnes_WithDoubleParsesBits()
    {
        // Random spellings around the fast path's edges: up to 17 digits, leading zeros, trailing zeros,
        // the point anywhere. Whatever it takes must be exactly the general path's double and its shortest text.
        var random = new Random(20261204);
        var taken = 0;
        for (var n = 0; n < 300_000; n++)
        {
            var text = new StringBuilder(random.Next(3) == 0 ? "-" : "");
            var whole = random.Next(4) == 0 ? "0" : RandomDigits(random, random.Next(1, 17));
            text.Append(whole);
            if (random.Next(4) != 0)
            {
                text.Append('.');
                text.Append('0', random.Next(0, 3) == 0 ? random.Next(0, 6) : 0);
                text.Append(RandomDigits(random, random.Next(1, 17)));
            }

            var s = text.ToString();
            if (FileValues.TryParseCanonicalDouble(Encoding.ASCII.GetBytes(s), out var fast))
            {
                taken++;
                AssertSameAsGeneralPath(s, fast);
            }
            else
            {
                var general = double.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
                var spelled = new byte[64];
                var length = BulkExport.Exporter.Formats.ScalarText.FormatDouble(general, spelled);
                // Refused only when the text is not the double's own spelling, or has more than 15 digits.
                Assert.True(Encoding.ASCII.GetString(spelled, 0, length) != s || s.Count(char.IsAsciiDigit) > 15, s);
            }
        }

        Assert.True(taken > 50_000, $"only {taken} spellings took the fast path");
    }

    private static string RandomDigits(Random random, int count)
    {
        var digits = new char[count];
        for (var i = 0; i < count; i++)
        {
            digits[i] = (char)('0' + random.Next(i == 0 ? 1 : 0, 10));
        }

        return new string(digits);
    }

    private static void AssertSameAsGeneralPath(string text, double fast)
    {
        var general = double.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(BitConverter.DoubleToInt64Bits(general) == BitConverter.DoubleToInt64Bits(fast), text);
        var spelled = new byte[64];
        var length = BulkExport.Exporter.Formats.ScalarText.FormatDouble(fast, spelled);
        Assert.Equal(text, Encoding.ASCII.GetString(spelled, 0, length));
    }

    [Theory]
    [InlineData("1131.2857142857142")]
    [InlineData("-1131.2857142857142")]
    [InlineData("0.10000000000000001")]
    [InlineData("4503599627370496.5")]
    [InlineData("4503599627370497.5")]
    [InlineData("9007199254740993.0")]
    [InlineData("1844674407370955.161")]
    [InlineData("999999999999999999.9")]
    [InlineData("0.0000000000000000001")]
    [InlineData("007.5")]
    [InlineData("1.50")]
    public void LongDecimals_ParseToTheBitsDoubleParseGives(string text)
    {
        Assert.True(FileValues.TryParseLongDecimalDouble(Encoding.ASCII.GetBytes(text), out var fast));
        var general = double.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(BitConverter.DoubleToInt64Bits(general), BitConverter.DoubleToInt64Bits(fast));
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData("1")]
    [InlineData("1.")]
    [InlineData(".5")]
    [InlineData("-.5")]
    [InlineData("+1.5")]
    [InlineData("0.0")]
    [InlineData("1.5e3")]
    [InlineData("12345678901234567890.5")]
    [InlineData("1.00000000000000000001")]
    [InlineData("1.2.3")]
    [InlineData("NaN")]
    public void OtherLongSpellings_AreLeftToTheGeneralParse(string text) =>
        Assert.False(FileValues.TryParseLongDecimalDouble(Encoding.ASCII.GetBytes(text), out _));

    [Fact]
    public void RandomLongDecimals_AndExactHalves_ParseToTheBitsDoubleParseGives()
    {
        var random = new Random(20261204);
        for (var n = 0; n < 500_000; n++)
        {
            var digits = random.Next(2, 20);
            var point = random.Next(1, digits);
            var text = new StringBuilder(random.Next(2) == 0 ? "-" : "");
            var all = RandomDigits(random, digits);
            text.Append(all[..point]).Append('.').Append(all[point..]);
            AssertLongParsesLikeDoubleParse(text.ToString());
        }

        // Ties between two doubles: an odd integer above 2^53 halved is exactly halfway (x.5).
        for (var n = 0; n < 100_000; n++)
        {
            var odd = (1UL << 53) + ((ulong)random.NextInt64(0, 1L << 53) | 1);
            AssertLongParsesLikeDoubleParse($"{odd / 2}.5");
            AssertLongParsesLikeDoubleParse($"{odd / 2}.50000000000000000"[..19]);
        }
    }

    private static void AssertLongParsesLikeDoubleParse(string s)
    {
        Assert.True(FileValues.TryParseLongDecimalDouble(Encoding.ASCII.GetBytes(s), out var fast), s);
        var general = double.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(BitConverter.DoubleToInt64Bits(general) == BitConverter.DoubleToInt64Bits(fast), s);
    }
}
