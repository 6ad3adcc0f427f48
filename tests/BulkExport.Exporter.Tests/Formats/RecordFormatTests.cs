using System.Text;
using System.Text.Json;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Formats;

public sealed class RecordFormatTests
{
    private static readonly Column[] Columns = FormatTestData.AllKinds;

    [Fact]
    public void Json_EveryKind_ParsesBackToTheSameValues()
    {
        var text = FormatTestData.EncodeText(RecordFormats.Json, Columns, FormatTestData.SampleRow(), FormatTestData.NullRow());
        using var doc = JsonDocument.Parse(text);
        Assert.Equal(JsonValueKind.Array, doc.RootElement.ValueKind);
        Assert.Equal(2, doc.RootElement.GetArrayLength());
        AssertSampleObject(doc.RootElement[0]);
        AssertNullObject(doc.RootElement[1]);
    }

    [Fact]
    public void Json_Layout_IsOneRowPerLineInsideTheArray()
    {
        var columns = new[] { new Column("a", ColumnKind.Integer) };
        var text = FormatTestData.EncodeText(RecordFormats.Json, columns, [1L], [2L]);
        Assert.Equal("[\n{\"a\":1},\n{\"a\":2}\n]\n", text);
    }

    [Fact]
    public void Json_NoRows_IsAnEmptyArray()
    {
        var text = FormatTestData.EncodeText(RecordFormats.Json, Columns);
        using var doc = JsonDocument.Parse(text);
        Assert.Equal(0, doc.RootElement.GetArrayLength());
    }

    [Fact]
    public void JsonLines_EveryKind_OneParsableObjectPerLine()
    {
        var text = FormatTestData.EncodeText(RecordFormats.JsonLines, Columns, FormatTestData.SampleRow(), FormatTestData.NullRow());
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        var lines = text.TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        AssertSampleObject(first.RootElement);
        using var second = JsonDocument.Parse(lines[1]);
        AssertNullObject(second.RootElement);
    }

    [Fact]
    public void JsonLines_NoRows_IsAnEmptyFile()
    {
        Assert.Empty(FormatTestData.Encode(RecordFormats.JsonLines, Columns));
    }

    [Fact]
    public void GeoJson_EveryKind_IsFeatureCollectionWithGeometryFromGeometryColumn()
    {
        var text = FormatTestData.EncodeText(RecordFormats.GeoJson, Columns, FormatTestData.SampleRow(), FormatTestData.NullRow());
        using var doc = JsonDocument.Parse(text);
        var root = doc.RootElement;
        Assert.Equal("FeatureCollection", root.GetProperty("type").GetString());
        var features = root.GetProperty("features");
        Assert.Equal(2, features.GetArrayLength());

        var feature = features[0];
        Assert.Equal("Feature", feature.GetProperty("type").GetString());
        var geometry = feature.GetProperty("geometry");
        Assert.Equal("Point", geometry.GetProperty("type").GetString());
        Assert.Equal(12.5, geometry.GetProperty("coordinates")[0].GetDouble());
        var properties = feature.GetProperty("properties");
        Assert.False(properties.TryGetProperty("geom", out _), "the geometry column must not repeat as a property");
        Assert.Equal(Columns.Length - 1, properties.EnumerateObject().Count());
        AssertSampleObject(properties, skipGeometry: true);

        Assert.Equal(JsonValueKind.Null, features[1].GetProperty("geometry").ValueKind);
    }

    [Fact]
    public void GeoJson_WithoutGeometryColumn_HasNullGeometryAndAllProperties()
    {
        var columns = new[] { new Column("id", ColumnKind.Integer), new Column("name", ColumnKind.Text) };
        var text = FormatTestData.EncodeText(RecordFormats.GeoJson, columns, [1L, "x"]);
        Assert.Equal("{\"type\":\"FeatureCollection\",\"features\":[\n{\"type\":\"Feature\",\"geometry\":null,\"properties\":{\"id\":1,\"name\":\"x\"}}\n]}\n", text);
    }

    [Fact]
    public void GeoJson_NoRows_IsAnEmptyFeatureCollection()
    {
        var text = FormatTestData.EncodeText(RecordFormats.GeoJson, Columns);
        using var doc = JsonDocument.Parse(text);
        Assert.Equal(0, doc.RootElement.GetProperty("features").GetArrayLength());
    }

    [Fact]
    public void Csv_EveryKind_ParsesBackToTheSameText()
    {
        var text = FormatTestData.EncodeText(RecordFormats.Csv, Columns, FormatTestData.SampleRow(), FormatTestData.NullRow());
        var records = TestCsv.Parse(text);
        Assert.Equal(3, records.Count);
        Assert.Equal(Columns.Select(c => c.Name), records[0]);
        var r = records[1];
        Assert.Equal("Æblevej 3, \"st.\"\r\nKøbenhavn", r[0]);
        Assert.Equal("-9007199254740993", r[1]);
        Assert.Equal("12345678901234567890.000000000000000001", r[2]);
        Assert.Equal("0.1", r[3]);
        Assert.Equal("true", r[4]);
        Assert.Equal("2024-02-29", r[5]);
        Assert.Equal("2024-03-01T13:14:15.1234567", r[6]);
        Assert.Equal("2024-03-01T11:14:15Z", r[7]);
        Assert.Equal("6f9619ff-8b86-d011-b42d-00c04fc964ff", r[8]);
        Assert.Equal("{\"a\":[1,2,{\"b\":null}],\"c\":\"x,y\"}", r[9]);
        Assert.Equal(Convert.ToBase64String(new byte[] { 0, 1, 2, 250, 255 }), r[10]);
        Assert.Equal("POINT(12.5 55.7)", r[11]);
        Assert.Equal("{\"a b\",NULL,\"\",\"NULL\",\"q\\\"uote\",\"back\\\\slash\",\"{brace}\",plain}", r[12]);
        Assert.Equal("{1,2,NULL}", r[13]);
        Assert.All(records[2], Assert.Null);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("", "\"\"")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("\"", "\"\"\"\"")]
    [InlineData("line1\nline2", "\"line1\nline2\"")]
    [InlineData("cr\rhere", "\"cr\rhere\"")]
    [InlineData("crlf\r\n", "\"crlf\r\n\"")]
    [InlineData(" padded ", " padded ")]
    [InlineData("Ærø 🚲 日本", "Ærø 🚲 日本")]
    [InlineData("Ærø, 🚲", "\"Ærø, 🚲\"")]
    public void Csv_TextField_QuotedOnlyWhenNeeded(string value, string expectedField)
    {
        var columns = new[] { new Column("v", ColumnKind.Text), new Column("n", ColumnKind.Text) };
        var text = FormatTestData.EncodeText(RecordFormats.Csv, columns, [value, null]);
        Assert.Equal("v,n\r\n" + expectedField + ",\r\n", text);
        var parsed = TestCsv.Parse(text);
        Assert.Equal(value, parsed[1][0]);
        Assert.Null(parsed[1][1]);
    }

    [Fact]
    public void Csv_LongTextWithQuotes_RoundTrips()
    {
        var value = string.Concat(Enumerable.Repeat("æ\"ø,", 10_000));
        var columns = new[] { new Column("v", ColumnKind.Text) };
        var parsed = TestCsv.Parse(FormatTestData.EncodeText(RecordFormats.Csv, columns, [value]));
        Assert.Equal(value, parsed[1][0]);
    }

    [Fact]
    public void Csv_HeaderNeedingQuotes_IsQuoted()
    {
        var columns = new[] { new Column("a,b", ColumnKind.Text), new Column("c", ColumnKind.Text) };
        Assert.Equal("\"a,b\",c\r\n", FormatTestData.EncodeText(RecordFormats.Csv, columns));
    }

    [Theory]
    [InlineData(double.NaN, "\"NaN\"", "NaN")]
    [InlineData(double.PositiveInfinity, "\"Infinity\"", "Infinity")]
    [InlineData(double.NegativeInfinity, "\"-Infinity\"", "-Infinity")]
    [InlineData(1e21, "1E+21", "1E+21")]
    [InlineData(-0.5, "-0.5", "-0.5")]
    public void Float_NonFiniteAsStringsAndFiniteAsShortestNumber(double value, string json, string csv)
    {
        var columns = new[] { new Column("f", ColumnKind.Float) };
        Assert.Equal($"{{\"f\":{json}}}\n", FormatTestData.EncodeText(RecordFormats.JsonLines, columns, [value]));
        Assert.Equal($"f\r\n{csv}\r\n", FormatTestData.EncodeText(RecordFormats.Csv, columns, [value]));
    }

    [Fact]
    public void Decimal_NaNText_IsAJsonString()
    {
        var columns = new[] { new Column("d", ColumnKind.Decimal) };
        Assert.Equal("{\"d\":\"NaN\"}\n", FormatTestData.EncodeText(RecordFormats.JsonLines, columns, [new DecimalText("NaN")]));
    }

    [Fact]
    public void Timestamp_WholeSecond_HasNoFraction()
    {
        var columns = new[] { new Column("t", ColumnKind.Timestamp), new Column("z", ColumnKind.TimestampTz) };
        var row = new object?[] { new DateTime(2020, 1, 2, 3, 4, 5), new DateTimeOffset(2020, 1, 2, 3, 4, 5, TimeSpan.Zero) };
        Assert.Equal("{\"t\":\"2020-01-02T03:04:05\",\"z\":\"2020-01-02T03:04:05Z\"}\n", FormatTestData.EncodeText(RecordFormats.JsonLines, columns, row));
    }

    [Fact]
    public void Encoders_SameRows_GiveSameBytes()
    {
        // The streamed ones (GML too, configured for the sample's CRS); GPKG and PARQUET have their own determinism tests.
        foreach (var format in RecordFormats.All.OfType<IStreamedFormat>().Select(f => f is IEntityConfiguredFormat c ? c.For(new BulkExport.Exporter.Formats.Geo.EntityGeometry("Sample", "geom", 4326, []), default, "ZSTD") : f))
        {
            var first = FormatTestData.Encode(format, Columns, FormatTestData.SampleRow(), FormatTestData.NullRow());
            var second = FormatTestData.Encode(format, Columns, FormatTestData.SampleRow(), FormatTestData.NullRow());
            Assert.Equal(first, second);
        }
    }

    [Fact]
    public void Encoder_WrongClrTypeForKind_ThrowsNamingTheColumn()
    {
        var columns = new[] { new Column("when", ColumnKind.Date) };
        var error = Assert.Throws<RowValueException>(() => FormatTestData.Encode(RecordFormats.Json, columns, ["2020-01-01"]));
        Assert.Contains("'when'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Encoder_InvalidRawJson_Throws()
    {
        var columns = new[] { new Column("j", ColumnKind.Json) };
        Assert.ThrowsAny<Exception>(() => FormatTestData.Encode(RecordFormats.Json, columns, [new RawJson("{broken")]));
    }

    [Fact]
    public void Csv_Ddl_MapsKindsNullabilityAndPrimaryKey()
    {
        var columns = new[]
        {
            new Column("id", ColumnKind.Uuid, Nullable: false),
            new Column("amount", ColumnKind.Decimal, SqlType: "numeric(12,2)"),
            new Column("tags", ColumnKind.Array, ElementKind: ColumnKind.Text),
            new Column("n", ColumnKind.Integer),
            new Column("f", ColumnKind.Float),
            new Column("b", ColumnKind.Boolean),
            new Column("d", ColumnKind.Date),
            new Column("t", ColumnKind.Timestamp),
            new Column("tz", ColumnKind.TimestampTz, Nullable: false),
            new Column("j", ColumnKind.Json),
            new Column("bin", ColumnKind.Bytes),
            new Column("g", ColumnKind.Geometry),
            new Column("we\"ird", ColumnKind.Text),
        };
        var companions = RecordFormats.Csv.CompanionFiles(new FormatSchema("Adresse", columns, ["id", "tz"], null));
        var file = Assert.Single(companions);
        Assert.Equal("sql", file.Extension);
        Assert.Equal(
            """
            CREATE TABLE "Adresse" (
                "id" uuid NOT NULL,
                "amount" numeric(12,2),
                "tags" text[],
                "n" bigint,
                "f" double precision,
                "b" boolean,
                "d" date,
                "t" timestamp,
                "tz" timestamp with time zone NOT NULL,
                "j" jsonb,
                "bin" bytea,
                "g" geometry,
                "we""ird" text,
                PRIMARY KEY ("id", "tz")
            );

            """.ReplaceLineEndings("\n"),
            Encoding.UTF8.GetString(file.Content));
    }

    [Fact]
    public void Csv_DdlWithoutKey_HasNoPrimaryKeyClause()
    {
        var columns = new[] { new Column("a", ColumnKind.Text) };
        var ddl = Encoding.UTF8.GetString(RecordFormats.Csv.CompanionFiles(new FormatSchema("T", columns, [], null))[0].Content);
        Assert.Equal("CREATE TABLE \"T\" (\n    \"a\" text\n);\n", ddl);
    }

    [Fact]
    public void JsonFormats_HaveNoCompanionFiles()
    {
        Assert.Empty(RecordFormats.Json.CompanionFiles(new FormatSchema("T", Columns, ["id"], null)));
        Assert.Empty(RecordFormats.JsonLines.CompanionFiles(new FormatSchema("T", Columns, ["id"], null)));
        Assert.Empty(RecordFormats.GeoJson.CompanionFiles(new FormatSchema("T", Columns, ["id"], null)));
    }

    [Fact]
    public void RecordFormats_Get_ResolvesNamesAndRejectsUnknown()
    {
        Assert.Equal("geojson", RecordFormats.Get("GEOJSON").Extension);
        Assert.Equal("jsonl", RecordFormats.Get("JSONL").Extension);
        Assert.Throws<ArgumentException>(() => RecordFormats.Get("XML"));
    }

    private static void AssertSampleObject(JsonElement o, bool skipGeometry = false)
    {
        Assert.Equal("Æblevej 3, \"st.\"\r\nKøbenhavn", o.GetProperty("text").GetString());
        Assert.Equal(-9_007_199_254_740_993L, o.GetProperty("int").GetInt64());
        Assert.Equal(JsonValueKind.Number, o.GetProperty("dec").ValueKind);
        Assert.Equal("12345678901234567890.000000000000000001", o.GetProperty("dec").GetRawText());
        Assert.Equal(0.1, o.GetProperty("float").GetDouble());
        Assert.True(o.GetProperty("bool").GetBoolean());
        Assert.Equal("2024-02-29", o.GetProperty("date").GetString());
        Assert.Equal("2024-03-01T13:14:15.1234567", o.GetProperty("ts").GetString());
        Assert.Equal("2024-03-01T11:14:15Z", o.GetProperty("tstz").GetString());
        Assert.Equal("6f9619ff-8b86-d011-b42d-00c04fc964ff", o.GetProperty("uuid").GetString());
        Assert.Equal("{\"a\":[1,2,{\"b\":null}],\"c\":\"x,y\"}", o.GetProperty("json").GetRawText());
        Assert.Equal(new byte[] { 0, 1, 2, 250, 255 }, o.GetProperty("bytes").GetBytesFromBase64());
        if (!skipGeometry)
        {
            Assert.Equal("Point", o.GetProperty("geom").GetProperty("type").GetString());
        }

        var arr = o.GetProperty("arr").EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? null : e.GetString()).ToArray();
        Assert.Equal(new string?[] { "a b", null, "", "NULL", "q\"uote", "back\\slash", "{brace}", "plain" }, arr);
        Assert.Equal("[1,2,null]", o.GetProperty("ints").GetRawText());
    }

    private static void AssertNullObject(JsonElement o)
    {
        Assert.Equal(Columns.Length, o.EnumerateObject().Count());
        Assert.All(o.EnumerateObject(), p => Assert.Equal(JsonValueKind.Null, p.Value.ValueKind));
    }
}

public sealed class ScalarTextTests
{
    [Theory]
    [InlineData(0L)]
    [InlineData(638_000_000_000_000_001L)]
    [InlineData(638_000_000_001_230_000L)]
    [InlineData(638_000_000_000_000_000L)]
    [InlineData(3_155_378_975_999_999_999L)]
    public void Timestamps_MatchTheEquivalentCustomFormatStrings(long ticks)
    {
        var value = new DateTime(ticks, DateTimeKind.Unspecified);
        var columns = new[]
        {
            new BulkExport.Exporter.Rows.Column("t", BulkExport.Exporter.Rows.ColumnKind.Timestamp),
            new BulkExport.Exporter.Rows.Column("z", BulkExport.Exporter.Rows.ColumnKind.TimestampTz),
            new BulkExport.Exporter.Rows.Column("d", BulkExport.Exporter.Rows.ColumnKind.Date),
        };
        var text = FormatTestData.EncodeText(BulkExport.Exporter.Formats.RecordFormats.Csv, columns, [value, new DateTimeOffset(value, TimeSpan.Zero), DateOnly.FromDateTime(value)]);
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        var expected = string.Join(
            ",",
            value.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", invariant),
            value.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", invariant),
            value.ToString("yyyy-MM-dd", invariant));
        Assert.Equal($"t,z,d\r\n{expected}\r\n", text);
    }
}
