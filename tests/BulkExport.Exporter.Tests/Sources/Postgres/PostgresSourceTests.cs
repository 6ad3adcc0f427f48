using System.Text;
using BulkExport.Api;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;
using Npgsql;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Sources.Postgres;

[Collection(PostgresCollection.Name)]
public sealed class PostgresSourceTests(PostgresFixture pg)
{
    private const string FortyDigits = "1234567890123456789012345678901234.56789";

    private static readonly ReadRequest Plain = new(SortByKey: false);

    private PostgresSource Source(params EntitySpec[] entities) => Source(1, pg.ConnectionString, entities);

    private static PostgresSource Source(int parallelism, string connectionString, params EntitySpec[] entities) =>
        new(new PostgresSourceSpec { Parallelism = parallelism }, entities, connectionString);

    private static async Task<List<object?[]>> ReadAllAsync(IRowReader reader)
    {
        var rows = new List<object?[]>();
        while (await reader.ReadAsync(CancellationToken.None))
        {
            rows.Add(reader.Current);
        }

        return rows;
    }

    [Fact]
    public async Task EveryType_IsMappedExactly()
    {
        const string table = "types_mapped";
        var geometry = pg.PostgisAvailable ? ", g geometry(Point, 4326)" : "";
        var geometryValue = pg.PostgisAvailable ? ", 'SRID=4326;POINT(12.5683371 55.6760968)'" : "";
        await pg.ExecuteAsync($$"""
            DROP TABLE IF EXISTS public.{{table}};
            CREATE TABLE public.{{table}} (
              id integer PRIMARY KEY, i2 smallint, i8 bigint NOT NULL, n numeric(45,5), f4 real, f8 double precision,
              t text, vc varchar(10), ch char(5), b boolean, d date, ts timestamp, tstz timestamp with time zone,
              u uuid, j json, jb jsonb, a integer[], ta text[], na numeric[], tza timestamptz[], by bytea, iv interval{{geometry}});
            INSERT INTO public.{{table}} VALUES (
              1, -32768, 9223372036854775807, {{FortyDigits}}, 1.5, 0.1, 'æøå "quoted"', 'short', 'ab', true, '2024-02-29',
              '2024-01-02 03:04:05.123456', '2024-06-01 12:00:00+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
              '{"a": [1, 2.50, null]}', '{"b": {"c": "d"} }', '{1,NULL,3}', '{"x","y z"}', '{1.10,NULL}',
              '{"2024-01-01 00:00:00+01"}', '\x00ff10', '1 day 02:00:00'{{geometryValue}});
            INSERT INTO public.{{table}} (id, i8) VALUES (2, 0);
            """);
        var entity = new EntitySpec { Name = "Types", Table = "public." + table, Key = ["id"] };
        await using var snapshot = await Source(entity).OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(true), CancellationToken.None);

        var columns = reader.Columns.ToDictionary(c => c.Name);
        Assert.Equal(new Column("id", ColumnKind.Integer, null, "integer", Nullable: false), columns["id"]);
        Assert.Equal(new Column("i8", ColumnKind.Integer, null, "bigint", Nullable: false), columns["i8"]);
        Assert.Equal(new Column("n", ColumnKind.Decimal, null, "numeric(45,5)", Nullable: true), columns["n"]);
        Assert.Equal(ColumnKind.Float, columns["f4"].Kind);
        Assert.Equal(ColumnKind.Text, columns["vc"].Kind);
        Assert.Equal("character varying(10)", columns["vc"].SqlType);
        Assert.Equal(ColumnKind.Text, columns["ch"].Kind);
        Assert.Equal(ColumnKind.TimestampTz, columns["tstz"].Kind);
        Assert.Equal("timestamp with time zone", columns["tstz"].SqlType);
        Assert.Equal(ColumnKind.Timestamp, columns["ts"].Kind);
        Assert.Equal(new Column("a", ColumnKind.Array, ColumnKind.Integer, "integer[]"), columns["a"]);
        Assert.Equal(ColumnKind.Decimal, columns["na"].ElementKind);
        Assert.Equal(ColumnKind.Json, columns["j"].Kind);
        Assert.Equal(ColumnKind.Json, columns["jb"].Kind);
        Assert.Equal(ColumnKind.Bytes, columns["by"].Kind);
        Assert.Equal(ColumnKind.Text, columns["iv"].Kind);
        Assert.True(reader is IRowReaderOrdering { IsSortedByKey: true });

        var rows = await ReadAllAsync(reader);
        Assert.Equal(2, rows.Count);
        var row = Enumerable.Range(0, reader.Columns.Count).ToDictionary(i => reader.Columns[i].Name, i => rows[0][i]);
        Assert.Equal(1L, row["id"]);
        Assert.Equal(-32768L, row["i2"]);
        Assert.Equal(long.MaxValue, row["i8"]);
        Assert.Equal(new DecimalText(FortyDigits), row["n"]);
        Assert.Equal(1.5d, row["f4"]);
        Assert.Equal(0.1d, row["f8"]);
        Assert.Equal("æøå \"quoted\"", row["t"]);
        Assert.Equal("short", row["vc"]);
        Assert.Equal("ab", row["ch"]);
        Assert.Equal(true, row["b"]);
        Assert.Equal(new DateOnly(2024, 2, 29), row["d"]);
        var ts = Assert.IsType<DateTime>(row["ts"]);
        Assert.Equal(DateTimeKind.Unspecified, ts.Kind);
        Assert.Equal(new DateTime(2024, 1, 2, 3, 4, 5, 123, 456), ts);
        var tstz = Assert.IsType<DateTimeOffset>(row["tstz"]);
        Assert.Equal(TimeSpan.Zero, tstz.Offset);
        Assert.Equal(new DateTimeOffset(2024, 6, 1, 10, 0, 0, TimeSpan.Zero), tstz);
        Assert.Equal(Guid.Parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), row["u"]);
        Assert.Equal(new RawJson("""{"a": [1, 2.50, null]}"""), row["j"]);
        Assert.Equal(new RawJson("""{"b": {"c": "d"}}"""), row["jb"]);
        Assert.Equal(new object?[] { 1L, null, 3L }, Assert.IsType<object?[]>(row["a"]));
        Assert.Equal(new object?[] { "x", "y z" }, Assert.IsType<object?[]>(row["ta"]));
        Assert.Equal(new object?[] { new DecimalText("1.10"), null }, Assert.IsType<object?[]>(row["na"]));
        Assert.Equal(new object?[] { new DateTimeOffset(2023, 12, 31, 23, 0, 0, TimeSpan.Zero) }, Assert.IsType<object?[]>(row["tza"]));
        Assert.Equal(new byte[] { 0x00, 0xff, 0x10 }, row["by"]);
        Assert.Equal("1 day 02:00:00", row["iv"]);
        if (pg.PostgisAvailable)
        {
            Assert.Equal(ColumnKind.Geometry, columns["g"].Kind);
            Assert.Equal("geometry(Point,4326)", columns["g"].SqlType);
            var g = Assert.IsType<GeometryValue>(row["g"]);
            Assert.Equal("POINT(12.5683371 55.6760968)", g.Wkt);
            Assert.Equal("""{"type":"Point","coordinates":[12.5683371,55.6760968]}""", g.GeoJson);
            Assert.Equal(4326, g.Srid);
        }

        // The second row: every nullable column null, and null stays null (not a default value).
        var nulls = Enumerable.Range(0, reader.Columns.Count).Where(i => reader.Columns[i].Name is not ("id" or "i8")).Select(i => rows[1][i]);
        Assert.All(nulls, Assert.Null);
    }

    [Fact]
    public async Task Snapshot_SecondParallelReader_DoesNotSeeRowsCommittedAfterTheSnapshotOpened()
    {
        await pg.ExecuteAsync("""
            DROP TABLE IF EXISTS snap_a, snap_b;
            CREATE TABLE snap_a (id int PRIMARY KEY); CREATE TABLE snap_b (id int PRIMARY KEY);
            INSERT INTO snap_a SELECT generate_series(1, 1000); INSERT INTO snap_b VALUES (1), (2), (3);
            """);
        var a = new EntitySpec { Name = "A", Table = "snap_a", Key = ["id"] };
        var b = new EntitySpec { Name = "B", Table = "snap_b", Key = ["id"] };
        var c = new EntitySpec { Name = "C", Table = "snap_b", Key = ["id"] };
        var source = Source(2, pg.ConnectionString, a, b, c);

        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        Assert.Equal(2, snapshot.MaxParallelReaders);
        var before = DateTimeOffset.UtcNow;
        Assert.Equal(TimeSpan.Zero, snapshot.PointInTime.Offset);
        Assert.InRange(snapshot.PointInTime, before.AddMinutes(-1), before.AddSeconds(5));

        // Another session commits after the snapshot opened, before the second reader connects.
        await pg.ExecuteAsync("INSERT INTO snap_b VALUES (4); DELETE FROM snap_b WHERE id = 1;");

        await using var readerA = await snapshot.ReadAsync(a, Plain, CancellationToken.None);
        Assert.True(await readerA.ReadAsync(CancellationToken.None));
        await using (var readerB = await snapshot.ReadAsync(b, new ReadRequest(true), CancellationToken.None))
        {
            var rows = await ReadAllAsync(readerB);
            Assert.Equal([1L, 2L, 3L], rows.Select(r => r[0]));

            // Two readers are open: a third is over the limit.
            await Assert.ThrowsAsync<InvalidOperationException>(async () => await snapshot.ReadAsync(c, Plain, CancellationToken.None));
        }

        Assert.Equal(999, (await ReadAllAsync(readerA)).Count);
    }

    [Fact]
    public async Task LostSnapshotConnection_IsTransient()
    {
        var app = "lost-" + Guid.NewGuid().ToString("N")[..8];
        var connection = new NpgsqlConnectionStringBuilder(pg.ConnectionString) { ApplicationName = app }.ConnectionString;
        var a = new EntitySpec { Name = "A", Query = "SELECT 1 AS x" };
        var b = new EntitySpec { Name = "B", Query = "SELECT 2 AS x" };
        await using var snapshot = await Source(2, connection, a, b).OpenSnapshotAsync(CancellationToken.None);

        // The server ends the session holding the exported snapshot (a restart, an admin, a timeout).
        await pg.ExecuteAsync($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}'");

        var first = await Assert.ThrowsAsync<SourceException>(async () => await snapshot.ReadAsync(a, Plain, CancellationToken.None));
        Assert.True(first.Transient, first.Message);
        var second = await Assert.ThrowsAsync<SourceException>(async () => await snapshot.ReadAsync(b, Plain, CancellationToken.None));
        Assert.True(second.Transient, second.Message);
        Assert.Contains("'B'", second.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AbandonedRead_LeavesTheSnapshotUsable()
    {
        await pg.ExecuteAsync("""
            DROP TABLE IF EXISTS abandon; CREATE TABLE abandon (id int PRIMARY KEY, pad text);
            INSERT INTO abandon SELECT i, repeat('x', 200) FROM generate_series(1, 200000) i;
            """);
        var entity = new EntitySpec { Name = "Abandon", Table = "abandon", Key = ["id"] };
        await using var snapshot = await Source(entity).OpenSnapshotAsync(CancellationToken.None);
        await using (var first = await snapshot.ReadAsync(entity, Plain, CancellationToken.None))
        {
            Assert.True(await first.ReadAsync(CancellationToken.None));
        }

        await using var second = await snapshot.ReadAsync(entity, Plain, CancellationToken.None);
        Assert.Equal(200000, (await ReadAllAsync(second)).Count);
    }

    [Fact]
    public async Task SortByKey_OrdersTextKeysByUtf8Bytes_NotByTheDatabaseCollation()
    {
        string[] keys = ["b", "B", "a", "A", "_x", "é", "e", "Z", "z10", "z9", "ä", "1"];
        await pg.ExecuteAsync($"""
            DROP TABLE IF EXISTS sorted; CREATE TABLE sorted (k varchar(10), n int, PRIMARY KEY (k, n));
            INSERT INTO sorted VALUES {string.Join(", ", keys.Select(k => $"('{k}', 2), ('{k}', 1)"))};
            """);
        var entity = new EntitySpec { Name = "Sorted", Table = "sorted", Key = ["k", "n"] };
        await using var snapshot = await Source(entity).OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(true), CancellationToken.None);
        var rows = await ReadAllAsync(reader);

        var expected = keys.OrderBy(k => Encoding.UTF8.GetBytes(k), Comparer<byte[]>.Create((x, y) => x.AsSpan().SequenceCompareTo(y)))
            .SelectMany(k => new[] { (k, 1L), (k, 2L) });
        Assert.Equal(expected, rows.Select(r => ((string)r[0]!, (long)r[1]!)));
        Assert.True(((IRowReaderOrdering)reader).IsSortedByKey);

        // The database's own (ICU) collation would have ordered them differently; otherwise this test proves nothing.
        await using var connection = new NpgsqlConnection(pg.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT string_agg(k, ',' ORDER BY k) FROM (SELECT DISTINCT k FROM sorted) s", connection);
        Assert.NotEqual(string.Join(',', expected.Select(e => e.k).Distinct()), (string?)await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task TemporalEntity_SortedRead_OrdersByIdentity_NullEffectStartFirst()
    {
        // The delta merge-joins on key + registration start + effect start in the pipeline's key order,
        // where NULL sorts first; PostgreSQL's default puts NULLs last.
        await pg.ExecuteAsync("""
            DROP TABLE IF EXISTS temporal; CREATE TABLE temporal (id int, regfra timestamptz, regtil timestamptz, virkfra timestamptz, virktil timestamptz);
            INSERT INTO temporal VALUES
              (2, '2024-01-01Z', NULL, '2024-01-01Z', NULL),
              (1, '2024-01-10Z', NULL, '2024-01-01Z', NULL),
              (1, '2024-01-01Z', '2024-01-10Z', '2024-01-02Z', NULL),
              (1, '2024-01-01Z', '2024-01-10Z', NULL, NULL);
            """);
        var entity = new EntitySpec
        {
            Name = "Temporal",
            Table = "temporal",
            Key = ["id"],
            Temporal = new TemporalSpec { RegistrationFrom = "regfra", RegistrationTo = "regtil", EffectiveFrom = "virkfra", EffectiveTo = "virktil" },
        };
        await using var snapshot = await Source(entity).OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(true), CancellationToken.None);
        var rows = await ReadAllAsync(reader);
        Assert.Equal([1L, 1L, 1L, 2L], rows.Select(r => r[0]));
        Assert.Null(rows[0][3]);
        Assert.Equal(new DateTimeOffset(2024, 1, 2, 0, 0, 0, TimeSpan.Zero), rows[1][3]);
        Assert.Equal(new DateTimeOffset(2024, 1, 10, 0, 0, 0, TimeSpan.Zero), rows[2][1]);
    }

    [Fact]
    public async Task QueryEntity_IsWrappedAsASubquery()
    {
        await pg.ExecuteAsync("DROP TABLE IF EXISTS q_src; CREATE TABLE q_src (id int NOT NULL, name text); INSERT INTO q_src VALUES (2, 'b'), (1, 'a'), (3, NULL);");
        var entity = new EntitySpec { Name = "Q", Query = "SELECT id, upper(name) AS name FROM q_src WHERE id < 3;", Key = ["id"] };
        await using var snapshot = await Source(entity).OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(true), CancellationToken.None);
        Assert.Equal(["id", "name"], reader.Columns.Select(c => c.Name));
        Assert.All(reader.Columns, c => Assert.True(c.Nullable));
        var rows = await ReadAllAsync(reader);
        Assert.Equal([[1L, "A"], [2L, "B"]], rows);
    }

    [Fact]
    public async Task MissingTable_IsNotTransient_AndNamesTheEntity_WithoutThePassword()
    {
        var entity = new EntitySpec { Name = "Ghost", Table = "public.no_such_table", Key = ["id"] };
        await using var snapshot = await Source(entity).OpenSnapshotAsync(CancellationToken.None);
        var ex = await Assert.ThrowsAsync<SourceException>(async () => await snapshot.ReadAsync(entity, Plain, CancellationToken.None));
        Assert.False(ex.Transient);
        Assert.Contains("'Ghost'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
        AssertNoPassword(ex);

        // The failed read rolled back to its savepoint: the snapshot still reads.
        var ok = new EntitySpec { Name = "Ok", Query = "SELECT 1 AS one", Key = [] };
        var source = Source(entity, ok);
        await using var snapshot2 = await source.OpenSnapshotAsync(CancellationToken.None);
        await Assert.ThrowsAsync<SourceException>(async () => await snapshot2.ReadAsync(entity, Plain, CancellationToken.None));
        await using var reader = await snapshot2.ReadAsync(ok, Plain, CancellationToken.None);
        Assert.Single(await ReadAllAsync(reader));
    }

    [Fact]
    public async Task MultiDimensionalArray_IsANonTransientErrorNamingTheEntity()
    {
        var entity = new EntitySpec { Name = "Matrix", Query = "SELECT 1 AS id, '{{1,2},{3,4}}'::int[] AS m", Key = ["id"] };
        await using var snapshot = await Source(entity).OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, Plain, CancellationToken.None);
        var ex = await Assert.ThrowsAsync<SourceException>(async () => await reader.ReadAsync(CancellationToken.None));
        Assert.False(ex.Transient);
        Assert.Contains("'Matrix'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadQuery_IsNotTransient()
    {
        var entity = new EntitySpec { Name = "Broken", Query = "SELECT no_such_column FROM pg_class", Key = [] };
        await using var snapshot = await Source(entity).OpenSnapshotAsync(CancellationToken.None);
        var ex = await Assert.ThrowsAsync<SourceException>(async () => await snapshot.ReadAsync(entity, Plain, CancellationToken.None));
        Assert.False(ex.Transient);
        Assert.Contains("'Broken'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("no_such_column", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PermissionDenied_IsNotTransient()
    {
        var password = "pw-" + Guid.NewGuid().ToString("N");
        await pg.ExecuteAsync($"""
            DROP TABLE IF EXISTS secret_table; CREATE TABLE secret_table (id int);
            DROP ROLE IF EXISTS limited; CREATE ROLE limited LOGIN PASSWORD '{password}';
            """);
        var entity = new EntitySpec { Name = "Secret", Table = "secret_table", Key = [] };
        var source = Source(1, pg.ConnectionStringFor(PostgresFixture.Database, "limited", password), entity);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        var ex = await Assert.ThrowsAsync<SourceException>(async () => await snapshot.ReadAsync(entity, Plain, CancellationToken.None));
        Assert.False(ex.Transient);
        Assert.Contains("permission denied", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(password, ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongPort_IsTransient_WithoutThePassword()
    {
        var connection = new NpgsqlConnectionStringBuilder(pg.ConnectionString) { Port = PostgresFixture.FreePort(), Timeout = 3 }.ConnectionString;
        var source = Source(1, connection, new EntitySpec { Name = "X", Table = "x" });
        var ex = await Assert.ThrowsAsync<SourceException>(async () => await source.OpenSnapshotAsync(CancellationToken.None));
        Assert.True(ex.Transient);
        Assert.Contains("127.0.0.1", ex.Message, StringComparison.Ordinal);
        AssertNoPassword(ex);
    }

    [Fact]
    public async Task WrongPassword_IsNotTransient_AndDoesNotLeakIt()
    {
        var wrong = "wrong-" + Guid.NewGuid().ToString("N");
        var source = Source(1, pg.ConnectionStringFor(PostgresFixture.Database, PostgresFixture.User, wrong), new EntitySpec { Name = "X", Table = "x" });
        var ex = await Assert.ThrowsAsync<SourceException>(async () => await source.OpenSnapshotAsync(CancellationToken.None));
        Assert.False(ex.Transient);
        Assert.DoesNotContain(wrong, ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void MalformedConnectionString_DoesNotEchoIt()
    {
        var ex = Assert.Throws<SourceException>(() => Source(1, $"Host=localhost;Password={pg.Password};Port=notaport"));
        Assert.False(ex.Transient);
        AssertNoPassword(ex);
    }

    [Fact]
    public void ResolveConnectionString_PrefersTheVariable_ThenTheFile_ElseNamesBoth()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "Host=from-file\n");
            var env = new Dictionary<string, string?>
            {
                [ExporterEnvironment.PostgresConnectionString] = "Host=from-env",
                [ExporterEnvironment.PostgresConnectionStringFile] = file,
            };
            Assert.Equal("Host=from-env", PostgresSource.ResolveConnectionString(n => env.GetValueOrDefault(n)));
            env[ExporterEnvironment.PostgresConnectionString] = null;
            Assert.Equal("Host=from-file", PostgresSource.ResolveConnectionString(n => env.GetValueOrDefault(n)));
            env[ExporterEnvironment.PostgresConnectionStringFile] = null;
            var ex = Assert.Throws<SourceException>(() => PostgresSource.ResolveConnectionString(n => env.GetValueOrDefault(n)));
            Assert.Contains(ExporterEnvironment.PostgresConnectionString, ex.Message, StringComparison.Ordinal);
            Assert.Contains(ExporterEnvironment.PostgresConnectionStringFile, ex.Message, StringComparison.Ordinal);
            Assert.False(ex.Transient);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private void AssertNoPassword(Exception ex)
    {
        Assert.DoesNotContain(pg.Password, ex.ToString(), StringComparison.Ordinal);
    }
}
