using System.Buffers;
using BulkExport.Api;
using BulkExport.Exporter.Formats;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;

namespace BulkExport.Exporter.Tests.Sources.Postgres;

/// <summary>
/// The exporter's own binary COPY decoder against Npgsql's, on the same table at every type boundary:
/// the boxed values, the typed batches, the bytes every streamed format writes and the digests must all
/// be what Npgsql's decoding gave (the decoder before this one), so published data does not change.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class RawCopyDecoderTests(PostgresFixture pg)
{
    private const string Table = "raw_copy_boundaries";

    private async Task<EntitySpec> CreateTableAsync()
    {
        var geometry = pg.PostgisAvailable ? ", g geometry" : "";
        var geometryValues = pg.PostgisAvailable
            ? new[] { "'SRID=4326;POINT(12.5683371 55.6760968)'", "NULL", "'SRID=25832;LINESTRING(1 2, 3 4.000000000000001)'", "'POINT EMPTY'", "'GEOMETRYCOLLECTION EMPTY'", "NULL" }
            : new string[6];
        string G(int i) => pg.PostgisAvailable ? ", " + geometryValues[i] : "";
        await pg.ExecuteAsync($$"""
            DROP TABLE IF EXISTS public.{{Table}};
            CREATE TABLE public.{{Table}} (
              id integer PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, n numeric, f4 real, f8 double precision,
              t text, vc varchar(20), b boolean, d date, ts timestamp, tstz timestamptz, u uuid, j json, jb jsonb,
              by bytea, iv interval, ia bigint[], fa float8[], ba bool[], ta text[], na numeric[], ja jsonb[], da date[],
              tsa timestamp[], tza timestamptz[], ua uuid[], bya bytea[]{{geometry}});
            INSERT INTO public.{{Table}} VALUES
              (1, -32768, -2147483648, -9223372036854775808, -{{new string('9', 60)}}.{{new string('9', 30)}}, -3.4e38, -1.7976931348623157e308,
               '', '', false, '0001-01-01', '0001-01-01 00:00:00', '0001-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000',
               '[]', '{}', '', '-178000000 years', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'{{G(0)}}),
              (2, 32767, 2147483647, 9223372036854775807, 'NaN', 'Infinity', 'NaN',
               repeat('Ærø 😀 ñ, "q" \ {a} ', 40000), 'æøå', true, 'infinity', 'infinity', 'infinity', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
               '{"ø": "\u00e6", "n": 1.5e300, "a": [1, 2.50, null]}', '{"b": {"c": "d"}, "a": 1}', decode(repeat('00ff10', 200000), 'hex'), '1 day 02:00:00',
               '{-9223372036854775808,NULL,9223372036854775807}', '{NaN,Infinity,-Infinity,-0,4.9e-324,NULL}', '{true,NULL,false}',
               '{"","NULL",NULL,"a,b","q\"uote","back\\slash","{brace}","æ 😀"}', '{1.10,NULL,NaN,-0.000000000000000000001}',
               ARRAY['{"a":1}'::jsonb, NULL, '[]'::jsonb, '"s"'::jsonb], '{2024-02-29,NULL,infinity,-infinity}',
               '{"2024-01-02 03:04:05.123456",NULL,infinity}', '{"2024-06-01 12:00:00+02",NULL,-infinity}',
               '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}', ARRAY['\x'::bytea, NULL, '\x00ff'::bytea]{{G(1)}}),
              (3, 0, 0, 0, 0, '-Infinity', '-Infinity', 'NULL', 'x', NULL, '-infinity', '-infinity', '-infinity', NULL,
               'null', 'null', '\x00', '-1 microseconds', '{NULL}', '{-0}', '{}', '{NULL}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'{{G(2)}}),
              (4, NULL, NULL, NULL, '0.000000000000000000000000000001', 1.17549435e-38, 4.9e-324, E'line\r\nbreak\ttab\u0001', NULL, NULL,
               '9999-12-31', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00', NULL, '"text"', '1e400', NULL, NULL,
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL{{G(3)}}),
              (5, NULL, NULL, NULL, NULL, NULL, -0, NULL, NULL, NULL, '2000-01-01', '2000-01-01 00:00:00', '1999-12-31 23:59:59.999999-01', NULL,
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL{{G(4)}}),
              (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL{{G(5)}});
            """);
        return new EntitySpec { Name = "Boundaries", Table = "public." + Table, Key = ["id"] };
    }

    private async Task<(IReadOnlyList<Column> Columns, List<object?[]> Rows)> ReadBoxedAsync(EntitySpec entity, PostgresCopyDecoder decoder)
    {
        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [entity], pg.ConnectionString) { Decoder = decoder };
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);
        var rows = new List<object?[]>();
        while (await reader.ReadAsync(CancellationToken.None))
        {
            rows.Add(reader.Current);
        }

        return (reader.Columns, rows);
    }

    private async Task<RowBatch> ReadBatchAsync(EntitySpec entity)
    {
        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [entity], pg.ConnectionString);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);
        Assert.IsAssignableFrom<IRowBatchReader>(reader);
        // A batch smaller than the table: rows arrive over several calls.
        var small = new RowBatch(reader.Columns, 4);
        var all = new RowBatch(reader.Columns, 64);
        while (await reader.FillAsync(small, CancellationToken.None))
        {
            for (var r = 0; r < small.Count; r++)
            {
                var view = small.View(r);
                all.AddBoxed([.. Enumerable.Range(0, view.Columns.Count).Select(view.GetValue)]);
            }

            small.Clear();
        }

        // And once more straight into one batch, the pipeline's way.
        return all;
    }

    [Fact]
    public async Task RawDecoder_GivesNpgsqlsValues_AtEveryTypeBoundary()
    {
        var entity = await CreateTableAsync();
        var (columns, expected) = await ReadBoxedAsync(entity, PostgresCopyDecoder.Npgsql);
        var (rawColumns, actual) = await ReadBoxedAsync(entity, PostgresCopyDecoder.Raw);

        Assert.Equal(columns, rawColumns);
        Assert.Equal(6, expected.Count);
        Assert.Equal(expected.Count, actual.Count);
        for (var r = 0; r < expected.Count; r++)
        {
            for (var c = 0; c < columns.Count; c++)
            {
                Assert.True(Equal(expected[r][c], actual[r][c]), $"row {r + 1}, column {columns[c].Name}: Npgsql {Show(expected[r][c])}, raw {Show(actual[r][c])}");
            }
        }

        // The boundaries were really there: a 1 MB tuple, infinities as the CLR's extremes, NULL in every column.
        Assert.True(((string)actual[1][columns.ToList().FindIndex(c => c.Name == "t")]!).Length > 600_000);
        Assert.Equal(DateTime.MaxValue, actual[1][columns.ToList().FindIndex(c => c.Name == "ts")]);
        Assert.All(actual[5].Skip(1), Assert.Null);
    }

    [Fact]
    public async Task RawBatches_WriteEveryStreamedFormatAndDigest_AsNpgsqlsRowsDid()
    {
        var entity = await CreateTableAsync();
        var (columns, expected) = await ReadBoxedAsync(entity, PostgresCopyDecoder.Npgsql);
        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [entity], pg.ConnectionString);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);
        var batch = new RowBatch(reader.Columns, 16, arenaBytes: 256);
        Assert.True(await reader.FillAsync(batch, CancellationToken.None));
        Assert.Equal(expected.Count, batch.Count);
        Assert.False(await reader.FillAsync(new RowBatch(reader.Columns, 1), CancellationToken.None));

        using var digest = new RowDigest(columns);
        Span<byte> fromNpgsql = stackalloc byte[RowDigest.Length];
        Span<byte> fromRaw = stackalloc byte[RowDigest.Length];
        for (var r = 0; r < expected.Count; r++)
        {
            digest.Compute(expected[r], fromNpgsql);
            digest.Compute(batch.View(r), fromRaw);
            Assert.True(fromNpgsql.SequenceEqual(fromRaw), $"row {r + 1}: digest differs");
        }

        var geometryIndex = columns.ToList().FindIndex(c => c.Kind == ColumnKind.Geometry);
        foreach (var format in new IStreamedFormat[] { RecordFormats.Csv, RecordFormats.Json, RecordFormats.JsonLines, RecordFormats.GeoJson })
        {
            var schema = new FormatSchema("T", columns, ["id"], geometryIndex < 0 ? null : geometryIndex);
            var before = Encode(format.CreateEncoder(schema), expected.Select(row => (IRowView)new ObjectRowView(columns).Reset(row)));
            var after = Encode(format.CreateEncoder(schema), Enumerable.Range(0, batch.Count).Select(batch.View));
            Assert.True(before.AsSpan().SequenceEqual(after), $"{format.Name}: bytes differ");
        }
    }

    [Fact]
    public async Task RawBatches_ArriveOverSeveralCalls_WhenTheBatchIsSmallerThanTheTable()
    {
        var entity = await CreateTableAsync();
        var (columns, expected) = await ReadBoxedAsync(entity, PostgresCopyDecoder.Npgsql);
        var all = await ReadBatchAsync(entity);

        Assert.Equal(expected.Count, all.Count);
        using var digest = new RowDigest(columns);
        Span<byte> a = stackalloc byte[RowDigest.Length];
        Span<byte> b = stackalloc byte[RowDigest.Length];
        for (var r = 0; r < expected.Count; r++)
        {
            digest.Compute(expected[r], a);
            digest.Compute(all.View(r), b);
            Assert.True(a.SequenceEqual(b), $"row {r + 1}: digest differs");
        }
    }

    [Fact]
    public async Task IntegerArrays_HeldUnboxed_WritePostgresOwnText_AndNullElementsFallBackBoxed()
    {
        const string table = "raw_copy_int_arrays";
        await pg.ExecuteAsync($$"""
            DROP TABLE IF EXISTS public.{{table}};
            CREATE TABLE public.{{table}} (id integer PRIMARY KEY, a2 smallint[], a4 integer[], a8 bigint[]);
            INSERT INTO public.{{table}} VALUES
              (1, '{1,2,3}', '{-2147483648,0,2147483647}', '{-9223372036854775808,9223372036854775807}'),
              (2, '{}', '{}', '{}'),
              (3, '{7}', '{-1}', '{0}'),
              (4, '{1,NULL}', '{NULL}', '{NULL,NULL,3}'),
              (5, NULL, NULL, NULL),
              (6, '{-32768,32767}', '{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20}', '{42,42,42}');
            """);
        var entity = new EntitySpec { Name = "IntArrays", Table = "public." + table, Key = ["id"] };
        var (columns, boxed) = await ReadBoxedAsync(entity, PostgresCopyDecoder.Npgsql);
        Assert.All(columns.Skip(1), c => Assert.Equal((ColumnKind.Array, ColumnKind.Integer), (c.Kind, c.ElementKind!.Value)));

        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [entity], pg.ConnectionString);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);
        var batch = new RowBatch(reader.Columns, 16, arenaBytes: 64);
        Assert.True(await reader.FillAsync(batch, CancellationToken.None));
        Assert.Equal(6, batch.Count);

        // Held unboxed exactly where there is no NULL element (rows 1, 2, 3, 6); the same values either way.
        for (var r = 0; r < batch.Count; r++)
        {
            var view = batch.View(r);
            for (var c = 1; c < columns.Count; c++)
            {
                if (view.IsNull(c))
                {
                    Assert.Null(boxed[r][c]);
                    continue;
                }

                var unboxed = view.TryGetInt64Array(c, out var items);
                var expected = (object?[])boxed[r][c]!;
                Assert.Equal(expected.All(e => e is not null), unboxed);
                Assert.Equal(expected, view.GetArray(c));
                if (unboxed)
                {
                    Assert.Equal(expected.Select(e => (long)e!), items.ToArray());
                }
            }
        }

        // CSV fields are PostgreSQL's own array text (quoted as a CSV field when it holds a comma).
        var texts = new List<string?[]>();
        await using (var connection = new Npgsql.NpgsqlConnection(pg.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new Npgsql.NpgsqlCommand($"SELECT a2::text, a4::text, a8::text FROM public.{table} ORDER BY id", connection);
            await using var result = await command.ExecuteReaderAsync();
            while (await result.ReadAsync())
            {
                texts.Add([.. Enumerable.Range(0, 3).Select(i => result.IsDBNull(i) ? null : result.GetString(i))]);
            }
        }

        var csv = Encode(RecordFormats.Csv.CreateEncoder(new FormatSchema("T", columns, ["id"], null)), Enumerable.Range(0, batch.Count).Select(batch.View));
        var lines = System.Text.Encoding.UTF8.GetString(csv).Split("\r\n")[1..^1];
        Assert.Equal(6, lines.Length);
        for (var r = 0; r < lines.Length; r++)
        {
            var expected = string.Join(",", texts[r].Select(t => t is null ? "" : t.Contains(',', StringComparison.Ordinal) ? $"\"{t}\"" : t));
            Assert.Equal($"{r + 1},{expected}", lines[r]);
        }

        // Every streamed format, the digest and the codec as for Npgsql's boxed rows.
        using var digest = new RowDigest(columns);
        Span<byte> fromBoxed = stackalloc byte[RowDigest.Length];
        Span<byte> fromBatch = stackalloc byte[RowDigest.Length];
        for (var r = 0; r < boxed.Count; r++)
        {
            digest.Compute(boxed[r], fromBoxed);
            digest.Compute(batch.View(r), fromBatch);
            Assert.True(fromBoxed.SequenceEqual(fromBatch), $"row {r + 1}: digest differs");
            var boxedCodec = new ArrayBufferWriter<byte>();
            var batchCodec = new ArrayBufferWriter<byte>();
            RowCodec.Encode(boxed[r], boxedCodec);
            RowCodec.Encode(batch.View(r), batchCodec);
            Assert.True(boxedCodec.WrittenSpan.SequenceEqual(batchCodec.WrittenSpan), $"row {r + 1}: codec differs");
        }

        foreach (var format in new IStreamedFormat[] { RecordFormats.Csv, RecordFormats.Json, RecordFormats.JsonLines })
        {
            var schema = new FormatSchema("T", columns, ["id"], null);
            var before = Encode(format.CreateEncoder(schema), boxed.Select(row => (IRowView)new ObjectRowView(columns).Reset(row)));
            var after = Encode(format.CreateEncoder(schema), Enumerable.Range(0, batch.Count).Select(batch.View));
            Assert.True(before.AsSpan().SequenceEqual(after), $"{format.Name}: bytes differ");
        }
    }

    [Fact]
    public async Task JsonbText_TakesTheReaderlessCanonicalPath_WhereItIsCanonical_WithTheCanonicalisersBytes()
    {
        const string table = "raw_copy_jsonb_canonical";
        await pg.ExecuteAsync($$$"""
            DROP TABLE IF EXISTS public.{{{table}}};
            CREATE TABLE public.{{{table}}} (id integer PRIMARY KEY, doc jsonb, canonical boolean NOT NULL);
            INSERT INTO public.{{{table}}} VALUES
              (1, '{"i": 1, "ok": true, "tag": "t1"}', true),
              (2, '{"tag":"x","i":2}', true),
              (3, '{"b": 1, "aa": 2}', false),
              (4, '{"a": {"z": [1, 2.50, null, {"y": "\u00e6"}]}, "é": "ø \" \\ \n \u0001"}', true),
              (5, '{"z": 1, "é": 2, "😀": 3}', true),
              (6, '{"ab": 1, "é": 2}', true),
              (7, '{"a": 1, "a": 2}', true),
              (8, '[{"b": {}, "aa": []}, "s", 1e400, -0.0]', false),
              (9, '"\t"', true),
              (10, 'null', true),
              (11, NULL, true);
            """);
        var entity = new EntitySpec { Name = "JsonbCanonical", Table = "public." + table, Key = ["id"] };
        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [entity], pg.ConnectionString);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);
        var batch = new RowBatch(reader.Columns, 16);
        Assert.True(await reader.FillAsync(batch, CancellationToken.None));
        Assert.Equal(11, batch.Count);
        for (var r = 0; r < batch.Count; r++)
        {
            var view = batch.View(r);
            if (view.IsNull(1))
            {
                continue;
            }

            var text = view.GetUtf8(1).ToArray();
            var general = new ArrayBufferWriter<byte>();
            BulkExport.Publishing.Layout.CanonicalJson.Write(text, general);
            var destination = new byte[text.Length];
            var accepted = CanonicalJsonFastPath.TryWrite(text, destination, out var written);
            Assert.True(view.GetBoolean(2) == accepted, $"row {r + 1} ({System.Text.Encoding.UTF8.GetString(text)}): fast path {(accepted ? "accepted" : "refused")} it");
            if (accepted)
            {
                Assert.True(general.WrittenSpan.SequenceEqual(destination.AsSpan(0, written)), $"row {r + 1}: bytes differ");
            }

            var combined = new ArrayBufferWriter<byte>();
            CanonicalJsonFastPath.Write(text, combined);
            Assert.True(general.WrittenSpan.SequenceEqual(combined.WrittenSpan), $"row {r + 1}: combined bytes differ");
        }
    }

    [Fact]
    public async Task MultiDimensionalIntegerArray_IsStillRefused_NamingTheColumn()
    {
        const string table = "raw_copy_int_array_2d";
        await pg.ExecuteAsync($$$"""
            DROP TABLE IF EXISTS public.{{{table}}};
            CREATE TABLE public.{{{table}}} (id integer PRIMARY KEY, a integer[]);
            INSERT INTO public.{{{table}}} VALUES (1, '{1}'), (2, '{{1,2},{3,4}}');
            """);
        var entity = new EntitySpec { Name = "IntArray2d", Table = "public." + table, Key = ["id"] };
        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [entity], pg.ConnectionString);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);
        var batch = new RowBatch(reader.Columns, 16);
        var error = await Assert.ThrowsAsync<SourceException>(async () => await reader.FillAsync(batch, CancellationToken.None));
        Assert.Contains("row 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("column 'a'", error.Message, StringComparison.Ordinal);
        Assert.Contains("2-dimensional", error.Message, StringComparison.Ordinal);
    }

    private static byte[] Encode(IRecordEncoder encoder, IEnumerable<IRowView> rows)
    {
        var output = new ArrayBufferWriter<byte>();
        encoder.WriteHeader(output);
        foreach (var row in rows)
        {
            encoder.WriteRecord(row, output);
        }

        encoder.WriteFooter(output);
        return output.WrittenSpan.ToArray();
    }

    private static bool Equal(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (object?[] x, object?[] y) => x.Length == y.Length && x.Zip(y).All(p => Equal(p.First, p.Second)),
        (byte[] x, byte[] y) => x.AsSpan().SequenceEqual(y),
        (double x, double y) => BitConverter.DoubleToInt64Bits(x) == BitConverter.DoubleToInt64Bits(y),
        (DateTimeOffset x, DateTimeOffset y) => x.UtcTicks == y.UtcTicks && x.Offset == y.Offset,
        (DateTime x, DateTime y) => x.Ticks == y.Ticks && x.Kind == y.Kind,
        _ => a is not null && b is not null && a.GetType() == b.GetType() && a.Equals(b),
    };

    private static string Show(object? value) => value switch
    {
        null => "null",
        object?[] items => "[" + string.Join(",", items.Select(Show)) + "]",
        string s when s.Length > 40 => $"string({s.Length})",
        _ => $"{value.GetType().Name}:{value}",
    };
}
