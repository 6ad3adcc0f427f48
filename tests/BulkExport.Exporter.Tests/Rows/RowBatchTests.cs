using System.Buffers;
using System.Text;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Tests.Formats;

namespace BulkExport.Exporter.Tests.Rows;

/// <summary>
/// The typed, reused row batch at the boundaries of every column kind: what a batch row shows is what
/// its boxed values showed, byte for byte, in every streamed format, in the digest (row hash and
/// fingerprint), in the key encoding and in the delta codec.
/// </summary>
public sealed class RowBatchTests
{
    private static readonly Column[] Columns = FormatTestData.AllKinds;

    /// <summary>Rows at the edges: the sample, all NULL, extreme numbers, empty and long non-ASCII text, non-finite floats.</summary>
    private static object?[][] BoundaryRows()
    {
        var longText = string.Concat(Enumerable.Repeat("Ærø 😀 ñ, \"q\"\r\n\t", 40_000));
        return
        [
            FormatTestData.SampleRow(),
            FormatTestData.NullRow(),
            [
                "", long.MinValue, new DecimalText("-" + new string('9', 60) + "." + new string('9', 30)), double.MinValue, false,
                DateOnly.MinValue, DateTime.MinValue, new DateTimeOffset(1, 1, 1, 0, 0, 0, TimeSpan.Zero), Guid.Empty,
                new RawJson("[]"), Array.Empty<byte>(), new GeometryValue("{\"type\":\"Point\",\"coordinates\":[]}", "POINT EMPTY"),
                Array.Empty<object?>(), new object?[] { null },
            ],
            [
                longText, long.MaxValue, new DecimalText("NaN"), double.NaN, true,
                DateOnly.MaxValue, DateTime.MaxValue, new DateTimeOffset(9999, 12, 31, 23, 59, 59, TimeSpan.Zero).AddTicks(9_999_999), Guid.AllBitsSet,
                new RawJson("{\"ø\":\"\\u00e6\",\"n\":1.5e300}"), Enumerable.Range(0, 70_000).Select(i => (byte)i).ToArray(),
                new GeometryValue("{\"type\":\"Point\",\"coordinates\":[1,2]}", "POINT(1 2)", 4326),
                new object?[] { longText, "ø" }, new object?[] { long.MinValue, long.MaxValue },
            ],
            [
                "NULL", 0L, new DecimalText("0.000000000000000000000000000001"), double.PositiveInfinity, false,
                new DateOnly(2000, 1, 1), new DateTime(2000, 1, 1), new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.FromHours(-5)), FormatTestData.SampleGuid,
                new RawJson("\"text\""), new byte[] { 0 }, null, null, null,
            ],
            [
                "-0", -1L, new DecimalText("-Infinity"), double.Epsilon, true, null, null, null, null, new RawJson("null"), null, null, null, null,
            ],
            ["x", 1L, new DecimalText("1"), -0.0, null, null, null, null, null, null, null, null, null, null],
        ];
    }

    private static RowBatch Fill(IReadOnlyList<Column> columns, IEnumerable<object?[]> rows, int capacity = 8)
    {
        // A small arena, so filling it grows it across rows.
        var batch = new RowBatch(columns, capacity, arenaBytes: 16);
        foreach (var row in rows)
        {
            batch.AddBoxed(row);
        }

        return batch;
    }

    [Fact]
    public void EveryStreamedFormat_WritesABatchRowExactlyAsItsBoxedValues()
    {
        var rows = BoundaryRows();
        var batch = Fill(Columns, rows);
        var formats = RecordFormats.All.OfType<IStreamedFormat>()
            .Select(f => f is IEntityConfiguredFormat c ? (IStreamedFormat)c.For(new BulkExport.Exporter.Formats.Geo.EntityGeometry("T", "geom", 4326, []), default, "ZSTD") : f)
            .ToList();
        Assert.Contains(formats, f => f.Name == "CSV");
        Assert.Contains(formats, f => f.Name == "JSON");

        foreach (var format in formats)
        {
            var expected = FormatTestData.Encode(format, Columns, rows);
            Assert.True(expected.AsSpan().SequenceEqual(EncodeBatch(format, Columns, batch)), $"{format.Name}: the batch's bytes differ from the boxed rows' bytes");
        }
    }

    [Fact]
    public void DigestKeyAndCodec_OfABatchRow_AreThoseOfItsBoxedValues()
    {
        var rows = BoundaryRows();
        var batch = Fill(Columns, rows);
        using var digest = new RowDigest(Columns);
        var keyColumns = Enumerable.Range(0, Columns.Length).Where(i => KeyEncoder.CanEncode(Columns[i].Kind)).ToArray();
        Span<byte> fromBoxed = stackalloc byte[RowDigest.Length];
        Span<byte> fromBatch = stackalloc byte[RowDigest.Length];

        for (var r = 0; r < rows.Length; r++)
        {
            var view = batch.View(r);
            digest.Compute(rows[r], fromBoxed);
            digest.Compute(view, fromBatch);
            Assert.True(fromBoxed.SequenceEqual(fromBatch), $"row {r}: digest differs");

            var boxedKey = new ArrayBufferWriter<byte>();
            var batchKey = new ArrayBufferWriter<byte>();
            KeyEncoder.Encode(rows[r], keyColumns, boxedKey);
            KeyEncoder.Encode(view, keyColumns, batchKey);
            Assert.True(boxedKey.WrittenSpan.SequenceEqual(batchKey.WrittenSpan), $"row {r}: key differs");

            var boxedCodec = new ArrayBufferWriter<byte>();
            var batchCodec = new ArrayBufferWriter<byte>();
            RowCodec.Encode(rows[r], boxedCodec);
            RowCodec.Encode(view, batchCodec);
            Assert.True(boxedCodec.WrittenSpan.SequenceEqual(batchCodec.WrittenSpan), $"row {r}: codec differs");
        }
    }

    [Fact]
    public void Parquet_OfBatchRowsReadFromTheirWords_IsByteForByteThatOfTheirBoxedValues()
    {
        // The Parquet writer reads fixed-width values of batch rows from the batch's words; the file must be
        // the one the same rows give through their boxed values (ObjectRowView), nulls and extremes included.
        var rows = BoundaryRows();
        var batch = Fill(Columns, rows);
        var entity = new BulkExport.Exporter.Formats.Geo.EntityGeometry("T", "geom", 4326, []);
        var dir = Directory.CreateTempSubdirectory("parquet-words-").FullName;
        try
        {
            byte[] Write(string name, Func<int, IRowView> row)
            {
                var path = Path.Combine(dir, name);
                using (var file = new ParquetDataFile(path, Columns, entity, "ZSTD", ParquetDataFile.MaxRowGroupRows, ParquetDataFile.MaxRowGroupBytes))
                {
                    for (var r = 0; r < rows.Length; r++)
                    {
                        file.Write(row(r));
                    }

                    file.Finish();
                }

                return File.ReadAllBytes(path);
            }

            var boxed = new ObjectRowView(Columns);
            var expected = Write("boxed.parquet", r => boxed.Reset(rows[r]));
            var actual = Write("batch.parquet", batch.View);
            Assert.True(expected.AsSpan().SequenceEqual(actual), "the batch rows' Parquet file differs from the boxed rows'");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Digest_OfBatchRowsReadWithoutTheView_IsThatOfTheirBoxedValues_AtEveryBoundary()
    {
        // The kinds the digest reads straight from the batch's arrays: all but geometry, bytes and non-integer arrays.
        var kept = Enumerable.Range(0, Columns.Length)
            .Where(i => Columns[i].Kind is not (ColumnKind.Geometry or ColumnKind.Bytes) && (Columns[i].Kind != ColumnKind.Array || Columns[i].ElementKind == ColumnKind.Integer))
            .ToArray();
        var columns = kept.Select(i => Columns[i]).ToArray();
        Assert.Contains(columns, c => c.Kind == ColumnKind.Array);
        var rows = BoundaryRows().Select(row => kept.Select(i => row[i]).ToArray())
            // Values longer than the digest's working span, which need no escaping.
            .Append([.. columns.Select(c => c.Kind switch { ColumnKind.Text => new string('x', 5000), ColumnKind.Decimal => new DecimalText(new string('9', 400)), _ => (object?)null })])
            // Text that needs escaping, and integer arrays held unboxed next to boxed ones.
            .Append([.. columns.Select(c => c.Kind switch { ColumnKind.Text => "tab\t \"q\" \\ \u0001 æ", ColumnKind.Array => new object?[] { 1L, -2L }, _ => (object?)null })])
            .ToArray();
        var batch = Fill(columns, rows, capacity: rows.Length);
        var tags = Array.FindIndex(columns, c => c.Kind == ColumnKind.Array);
        batch.SetInt64Array(rows.Length - 1, tags, [1, -2]);
        using var digest = new RowDigest(columns);
        Assert.True(digest.TakesBatchPath(batch));
        Span<byte> fromBoxed = stackalloc byte[RowDigest.Length];
        Span<byte> fromBatch = stackalloc byte[RowDigest.Length];
        for (var r = 0; r < rows.Length; r++)
        {
            digest.Compute(rows[r], fromBoxed);
            digest.Compute(batch.View(r), fromBatch);
            Assert.True(fromBoxed.SequenceEqual(fromBatch), $"row {r}: digest differs");
        }

        // A batch of other columns than the digest's is not read that way.
        using var allKinds = new RowDigest(Columns);
        Assert.False(allKinds.TakesBatchPath(Fill(Columns, [FormatTestData.SampleRow()])));
        Assert.False(digest.TakesBatchPath(Fill(columns[1..], [rows[0][1..]])));
    }

    [Fact]
    public void CsvAndJson_OfBatchRowsWhoseSpellingsTheDigestKept_AreThoseOfTheirBoxedValues_AndAClearedBatchForgetsThem()
    {
        var kept = Enumerable.Range(0, Columns.Length)
            .Where(i => Columns[i].Kind is not (ColumnKind.Geometry or ColumnKind.Bytes) && (Columns[i].Kind != ColumnKind.Array || Columns[i].ElementKind == ColumnKind.Integer))
            .ToArray();
        var columns = kept.Select(i => Columns[i]).ToArray();
        var rows = BoundaryRows().Select(row => kept.Select(i => row[i]).ToArray())
            .Append([.. columns.Select(c => c.Kind switch { ColumnKind.Float => 1.0 / 3, ColumnKind.TimestampTz => new DateTimeOffset(2026, 12, 4, 1, 2, 3, TimeSpan.Zero).AddTicks(4567), _ => (object?)null })])
            .ToArray();
        var batch = Fill(columns, rows, capacity: rows.Length);
        using var digest = new RowDigest(columns);
        Assert.True(digest.TakesBatchPath(batch));
        Span<byte> hash = stackalloc byte[RowDigest.Length];
        for (var r = 0; r < batch.Count; r++)
        {
            digest.Compute(batch.View(r), hash);
        }

        var floatColumn = Array.FindIndex(columns, c => c.Kind == ColumnKind.Float);
        Assert.True(batch.TryGetSpelling(0, floatColumn, out var spelled));
        var expected = new byte[ScalarText.MaxScalarBytes];
        Assert.True(spelled.SequenceEqual(expected.AsSpan(0, ScalarText.FormatDouble((double)rows[0][floatColumn]!, expected))));
        // Non-finite values are not kept: their spellings differ between the digest (a JSON string) and CSV.
        Assert.False(batch.TryGetSpelling(Array.FindIndex(rows, r => r[floatColumn] is double.NaN), floatColumn, out _));

        foreach (var format in RecordFormats.All.OfType<IStreamedFormat>().Where(f => f.Name is "CSV" or "JSON" or "JSONL"))
        {
            Assert.True(FormatTestData.Encode(format, columns, rows).AsSpan().SequenceEqual(EncodeBatch(format, columns, batch)), $"{format.Name}: the batch's bytes differ from the boxed rows' bytes");
        }

        // Refilled with other values and no digest: nothing kept before shows through.
        batch.Clear();
        var reversed = rows.Reverse().ToArray();
        foreach (var row in reversed)
        {
            batch.AddBoxed(row);
        }

        Assert.False(batch.TryGetSpelling(0, floatColumn, out _));
        foreach (var format in RecordFormats.All.OfType<IStreamedFormat>().Where(f => f.Name is "CSV" or "JSON" or "JSONL"))
        {
            Assert.True(FormatTestData.Encode(format, columns, reversed).AsSpan().SequenceEqual(EncodeBatch(format, columns, batch)), $"{format.Name}: a cleared batch's bytes differ from the boxed rows' bytes");
        }
    }

    [Fact]
    public void DeltaRecordsOfBatchRows_InCsvAndJson_AreThoseOfTheirBoxedValuesWithTheOperation()
    {
        var kept = Enumerable.Range(0, Columns.Length)
            .Where(i => Columns[i].Kind is not (ColumnKind.Geometry or ColumnKind.Bytes) && (Columns[i].Kind != ColumnKind.Array || Columns[i].ElementKind == ColumnKind.Integer))
            .ToArray();
        var columns = kept.Select(i => Columns[i]).ToArray();
        var rows = BoundaryRows().Select(row => kept.Select(i => row[i]).ToArray()).ToArray();
        var batch = Fill(columns, rows, capacity: rows.Length);
        Column[] withOperation = [.. columns, new Column("operation", ColumnKind.Text)];
        var boxed = rows.Select(r => (object?[])[.. r, "update"]).ToArray();
        var operation = new OperationRowView(withOperation);

        foreach (var format in RecordFormats.All.OfType<IStreamedFormat>().Where(f => f.Name is "CSV" or "JSON" or "JSONL"))
        {
            var output = new ArrayBufferWriter<byte>();
            var encoder = format.CreateEncoder(new FormatSchema("T", withOperation, [], null));
            encoder.WriteHeader(output);
            for (var r = 0; r < batch.Count; r++)
            {
                encoder.WriteRecord(operation.Reset(batch.View(r), DeltaOperation.Update), output);
            }

            encoder.WriteFooter(output);
            Assert.True(FormatTestData.Encode(format, withOperation, boxed).AsSpan().SequenceEqual(output.WrittenSpan), $"{format.Name}: the delta records' bytes differ from the boxed rows' bytes");
        }
    }

    private static byte[] EncodeBatch(IStreamedFormat format, IReadOnlyList<Column> columns, RowBatch batch)
    {
        var output = new ArrayBufferWriter<byte>();
        var encoder = format.CreateEncoder(new FormatSchema("T", columns, [], null));
        encoder.WriteHeader(output);
        for (var r = 0; r < batch.Count; r++)
        {
            encoder.WriteRecord(batch.View(r), output);
        }

        encoder.WriteFooter(output);
        return output.WrittenSpan.ToArray();
    }

    [Fact]
    public void NullInEveryKind_IsNull_AndEveryGetterRefusesNamingTheColumn()
    {
        var batch = Fill(Columns, [FormatTestData.NullRow()]);
        var view = batch.View(0);

        for (var i = 0; i < Columns.Length; i++)
        {
            Assert.True(view.IsNull(i));
            Assert.Null(view.GetValue(i));
            var column = i;
            var error = Assert.Throws<InvalidOperationException>(() => Read(view, column));
            Assert.Contains($"'{Columns[i].Name}'", error.Message, StringComparison.Ordinal);
            Assert.Contains("null", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TypedGetters_ReturnTheValues_TextAsASliceOfTheArena()
    {
        var row = FormatTestData.SampleRow();
        var batch = Fill(Columns, [row]);
        var view = batch.View(0);

        Assert.Equal((string)row[0]!, view.GetString(0));
        Assert.Equal(Encoding.UTF8.GetBytes((string)row[0]!), view.GetUtf8(0).ToArray());
        Assert.True(view.GetUtf8(0) == view.GetUtf8(0), "the same row's text is the same bytes, not a fresh copy");
        Assert.Equal((long)row[1]!, view.GetInt64(1));
        Assert.Equal(((DecimalText)row[2]!).Text, Encoding.UTF8.GetString(view.GetUtf8(2)));
        Assert.Equal((double)row[3]!, view.GetDouble(3));
        Assert.True(view.GetBoolean(4));
        Assert.Equal((DateOnly)row[5]!, view.GetDate(5));
        Assert.Equal((DateTime)row[6]!, view.GetTimestamp(6));
        Assert.Equal(DateTimeKind.Unspecified, view.GetTimestamp(6).Kind);
        Assert.Equal((DateTimeOffset)row[7]!, view.GetTimestampTz(7));
        Assert.Equal(TimeSpan.Zero, view.GetTimestampTz(7).Offset);
        Assert.Equal(FormatTestData.SampleGuid, view.GetGuid(8));
        Assert.Equal(((RawJson)row[9]!).Json, view.GetString(9));
        Assert.Equal((byte[])row[10]!, view.GetBytes(10).ToArray());
        Assert.Equal(4326, view.GetGeometry(11).Srid);
        Assert.Equal(["a b", null, "", "NULL", "q\"uote", "back\\slash", "{brace}", "plain"], view.GetArray(12));
        Assert.Equal(row.Select(v => v is DateTimeOffset d ? d.ToUniversalTime() : v), Enumerable.Range(0, Columns.Length).Select(view.GetValue).Select(v => v is DateTimeOffset d ? d.ToUniversalTime() : v));
    }

    [Fact]
    public void Clear_ReusesTheBuffers_AndLeavesNoValueOfTheLastRows()
    {
        var batch = Fill(Columns, [FormatTestData.SampleRow(), FormatTestData.SampleRow()], capacity: 2);
        Assert.True(batch.IsFull);
        Assert.Throws<InvalidOperationException>(() => batch.AddRow());

        batch.Clear();
        Assert.Equal(0, batch.Count);
        Assert.Equal(0, batch.ArenaBytes);
        var row = batch.AddRow();
        batch.SetInt64(row, 1, 7);
        var view = batch.View(row);
        Assert.Equal(7, view.GetInt64(1));
        Assert.All(Enumerable.Range(0, Columns.Length).Where(i => i != 1), i => Assert.True(view.IsNull(i)));
    }

    [Fact]
    public void IntegerArrays_SetUnboxed_WriteEveryStreamedFormatDigestAndCodec_AsTheirBoxedValues()
    {
        Column[] columns = [new("id", ColumnKind.Integer), new("tags", ColumnKind.Array, ColumnKind.Integer), new("more", ColumnKind.Array, ColumnKind.Integer)];
        long[][] arrays = [[1, 2, 3], [], [long.MinValue, long.MaxValue], [0], [.. Enumerable.Range(-500, 1000).Select(i => (long)i * 1_000_003)]];
        object?[][] rows = [.. arrays.Select((a, i) => new object?[] { (long)i, a.Select(e => (object?)e).ToArray(), i % 2 == 0 ? null : new object?[] { 5L, null } })];
        // Capacity 2: the second batch reuses the first's integers after a Clear.
        var batch = new RowBatch(columns, 2);
        using var digest = new RowDigest(columns);
        Span<byte> fromBoxed = stackalloc byte[RowDigest.Length];
        Span<byte> fromBatch = stackalloc byte[RowDigest.Length];
        var formats = new IStreamedFormat[] { RecordFormats.Csv, RecordFormats.Json, RecordFormats.JsonLines };
        for (var first = 0; first < rows.Length; first += 2)
        {
            batch.Clear();
            var chunk = rows.Skip(first).Take(2).ToArray();
            foreach (var row in chunk)
            {
                var r = batch.AddRow();
                batch.SetInt64(r, 0, (long)row[0]!);
                batch.SetInt64Array(r, 1, arrays[(int)(long)row[0]!]);
                if (row[2] is { } boxed)
                {
                    batch.SetObject(r, 2, boxed);
                }
            }

            for (var r = 0; r < chunk.Length; r++)
            {
                var view = batch.View(r);
                Assert.True(view.TryGetInt64Array(1, out var held));
                Assert.Equal(arrays[first + r], held.ToArray());
                Assert.Equal((object?[])chunk[r][1]!, view.GetValue(1));
                Assert.Equal(chunk[r][2] is null, view.IsNull(2));
                Assert.False(!view.IsNull(2) && view.TryGetInt64Array(2, out _));
                digest.Compute(chunk[r], fromBoxed);
                digest.Compute(view, fromBatch);
                Assert.True(fromBoxed.SequenceEqual(fromBatch), $"row {first + r}: digest differs");
                var boxedCodec = new ArrayBufferWriter<byte>();
                var batchCodec = new ArrayBufferWriter<byte>();
                RowCodec.Encode(chunk[r], boxedCodec);
                RowCodec.Encode(view, batchCodec);
                Assert.True(boxedCodec.WrittenSpan.SequenceEqual(batchCodec.WrittenSpan), $"row {first + r}: codec differs");
            }

            foreach (var format in formats)
            {
                var expected = FormatTestData.Encode(format, columns, chunk);
                Assert.True(expected.AsSpan().SequenceEqual(EncodeBatch(format, columns, batch)), $"{format.Name}: the batch's bytes differ from the boxed rows' bytes");
            }
        }

        Assert.Throws<InvalidOperationException>(() => batch.ReserveInt64Array(0, 0, 1));
    }

    [Fact]
    public void WrongKind_IsRefusedNamingTheColumn_AndAFailedRowIsNotKept()
    {
        var batch = new RowBatch(Columns, 4);
        var bad = FormatTestData.SampleRow();
        bad[7] = "yesterday";

        var error = Assert.Throws<RowValueException>(() => batch.AddBoxed(bad));
        Assert.Equal("Column 'tstz' of kind TimestampTz cannot hold a value of type String.", error.Message);
        Assert.Equal(0, batch.Count);

        batch.AddBoxed(FormatTestData.SampleRow());
        var getter = Assert.Throws<InvalidOperationException>(() => batch.View(0).GetInt64(0));
        Assert.Contains("'text' (Text)", getter.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => batch.AddBoxed([1L]));
    }

    [Fact]
    public void NumericWidenings_TheFormatsAccepted_AreStoredAsTheirKind()
    {
        Column[] columns = [new("i", ColumnKind.Integer), new("f", ColumnKind.Float), new("d", ColumnKind.Decimal), new("ts", ColumnKind.TimestampTz)];
        var batch = Fill(columns, [[42, 1.5f, 12.50m, new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc)]]);
        var view = batch.View(0);

        Assert.Equal(42L, view.GetInt64(0));
        Assert.Equal(1.5, view.GetDouble(1));
        Assert.Equal("12.50", view.GetString(2));
        Assert.Equal(new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero), view.GetTimestampTz(3));
    }

    /// <summary>Geometries at the edges: NULL, Z, EMPTY, multi types and collections, no SRID and SRID 0, extreme and negative-zero coordinates.</summary>
    private static object?[][] GeometryRows() =>
    [
        [1L, null],
        [2L, new GeometryValue("{\"type\":\"Point\",\"coordinates\":[1,2,3]}", "POINT Z (1 2 3)", 4326)],
        [3L, new GeometryValue("{\"type\":\"Point\",\"coordinates\":[]}", "POINT EMPTY", 4326)],
        [4L, new GeometryValue("{\"type\":\"MultiPolygon\",\"coordinates\":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,5]]]]}", "MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))", 4326)],
        [5L, new GeometryValue("{\"type\":\"GeometryCollection\",\"geometries\":[{\"type\":\"Point\",\"coordinates\":[1,2]},{\"type\":\"LineString\",\"coordinates\":[[1,2],[3,4]]}]}", "GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(1 2,3 4))", null)],
        [6L, new GeometryValue("{\"type\":\"LineString\",\"coordinates\":[[-1.7976931348623157e+308,1e-300],[1.7976931348623157e+308,-0]]}", "LINESTRING(-1.7976931348623157e+308 1e-300,1.7976931348623157e+308 -0)", 0)],
        [7L, new GeometryValue("{\"type\":\"Point\",\"coordinates\":[12.123456789012345,55.000000000000001]}", "SRID=4326;POINT(12.123456789012345 55.000000000000001)", 4326)],
    ];

    [Fact]
    public void Geometry_InABatch_WritesEveryStreamedFormatDigestAndCodec_AsItsBoxedValue()
    {
        Column[] columns = [new("id", ColumnKind.Integer), new("geom", ColumnKind.Geometry)];
        var rows = GeometryRows();
        var batch = Fill(columns, rows);
        var formats = RecordFormats.All.OfType<IStreamedFormat>()
            .Select(f => f is IEntityConfiguredFormat c ? (IStreamedFormat)c.For(new BulkExport.Exporter.Formats.Geo.EntityGeometry("T", "geom", 4326, []), default, "ZSTD") : f)
            .ToList();
        Assert.Contains(formats, f => f.Name == "GEOJSON");
        Assert.Contains(formats, f => f.Name == "GML");

        foreach (var format in formats)
        {
            var expected = FormatTestData.Encode(format, columns, rows);
            var output = new ArrayBufferWriter<byte>();
            var encoder = format.CreateEncoder(new FormatSchema("T", columns, [], 1));
            encoder.WriteHeader(output);
            for (var r = 0; r < batch.Count; r++)
            {
                encoder.WriteRecord(batch.View(r), output);
            }

            encoder.WriteFooter(output);
            Assert.True(expected.AsSpan().SequenceEqual(output.WrittenSpan), $"{format.Name}: the batch's bytes differ from the boxed rows' bytes");
        }

        using var digest = new RowDigest(columns);
        Span<byte> fromBoxed = stackalloc byte[RowDigest.Length];
        Span<byte> fromBatch = stackalloc byte[RowDigest.Length];
        for (var r = 0; r < rows.Length; r++)
        {
            var view = batch.View(r);
            digest.Compute(rows[r], fromBoxed);
            digest.Compute(view, fromBatch);
            Assert.True(fromBoxed.SequenceEqual(fromBatch), $"row {r}: digest differs");

            var boxedCodec = new ArrayBufferWriter<byte>();
            var batchCodec = new ArrayBufferWriter<byte>();
            RowCodec.Encode(rows[r], boxedCodec);
            RowCodec.Encode(view, batchCodec);
            Assert.True(boxedCodec.WrittenSpan.SequenceEqual(batchCodec.WrittenSpan), $"row {r}: codec differs");
            Assert.Equal(rows[r], RowCodec.Decode(batchCodec.WrittenSpan));
        }
    }

    [Fact]
    public void Geometry_InABatch_IsItsUtf8InTheArena_AndSetObjectStillTakesABoxedValue()
    {
        Column[] columns = [new("geom", ColumnKind.Geometry)];
        var batch = new RowBatch(columns, 4, arenaBytes: 16);
        batch.SetGeometry(batch.AddRow(), 0, "{\"type\":\"Point\",\"coordinates\":[1,2]}"u8, "POINT(1 2)"u8, null);
        // The files source's path: a boxed value, stored as UTF-8 like the PostgreSQL source's.
        batch.SetObject(batch.AddRow(), 0, new GeometryValue("{\"type\":\"Point\",\"coordinates\":[3,4]}", "POINT(3 4)", 0));

        var first = batch.View(0).GetGeometryUtf8(0);
        Assert.Equal("{\"type\":\"Point\",\"coordinates\":[1,2]}", Encoding.UTF8.GetString(first.GeoJson));
        Assert.Equal("POINT(1 2)", Encoding.UTF8.GetString(first.Wkt));
        Assert.Null(first.Srid);
        Assert.Equal(new GeometryValue("{\"type\":\"Point\",\"coordinates\":[3,4]}", "POINT(3 4)", 0), batch.View(1).GetValue(0));
        Assert.Equal(0, batch.View(1).GetGeometryUtf8(0).Srid);
        Assert.Throws<RowValueException>(() => batch.SetObject(batch.AddRow(), 0, "POINT(1 2)"));
        Assert.Throws<InvalidOperationException>(() => batch.View(0).GetUtf8(0));
    }

    private static object Read(IRowView view, int column) => view.Columns[column].Kind switch
    {
        ColumnKind.Text or ColumnKind.Decimal or ColumnKind.Json => view.GetString(column),
        ColumnKind.Integer => view.GetInt64(column),
        ColumnKind.Float => view.GetDouble(column),
        ColumnKind.Boolean => view.GetBoolean(column),
        ColumnKind.Date => view.GetDate(column),
        ColumnKind.Timestamp => view.GetTimestamp(column),
        ColumnKind.TimestampTz => view.GetTimestampTz(column),
        ColumnKind.Uuid => view.GetGuid(column),
        ColumnKind.Bytes => view.GetBytes(column).ToArray(),
        ColumnKind.Geometry => view.GetGeometry(column),
        _ => view.GetArray(column),
    };
}
