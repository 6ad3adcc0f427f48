using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Publishing.Layout;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit.Abstractions;

namespace BulkExport.Exporter.Tests.Integration;

/// <summary>
/// <c>changeDetection: xmin</c> against the fixture's real PostgreSQL: each scenario runs twice in the same
/// snapshots, once as configured and once with the base's watermark withheld (a full compare), and the two must
/// publish the same bytes: delta files, state, fingerprint. Each also checks which path the xmin run took, by
/// its log: the changed-rows read, or a fallback and its reason.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresXminDeltaTests(PostgresFixture pg, ITestOutputHelper output) : IDisposable
{
    private const string ChangedRowsRead = "reading every key and the rows written since xid";
    private readonly string _schema = "xm_" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
    }

    private string Table => $"{_schema}.t";

    private EntitySpec Entity(string? changeDetection = ChangeDetectionModes.Xmin) => new() { Name = "T", Table = Table, Key = ["id"], ChangeDetection = changeDetection };

    private async Task CreateTableAsync(int rows = 200, string extraColumns = "", string extraValues = "")
    {
        await pg.ExecuteAsync($"""
            CREATE SCHEMA IF NOT EXISTS {_schema};
            CREATE TABLE {_schema}.t (id int PRIMARY KEY, v text, n int, note text{extraColumns});
            INSERT INTO {_schema}.t SELECT i, 'v' || i, i * 3, CASE WHEN i % 7 = 0 THEN NULL ELSE 'note ' || i END{extraValues} FROM generate_series(1, {rows}) i;
            """);
    }

    /// <summary>Two registers over the same table: one as configured, one that always compares every row.</summary>
    private sealed class Pair(ExportHarness xmin, ExportHarness compare, EntitySpec entity, string connection)
    {
        public ExportHarness Xmin { get; } = xmin;

        public ExportHarness Compare { get; } = compare;

        public CapturingLogger Log { get; } = new();

        public EntitySpec Entity { get; set; } = entity;

        public string Connection { get; } = connection;
    }

    private Pair NewPair(EntitySpec? entity = null, string? connection = null)
    {
        entity ??= Entity();
        var xmin = new ExportHarness(s => s.Entities = [entity]);
        var compare = new ExportHarness(s => s.Entities = [entity]);
        _owned.Add(xmin);
        _owned.Add(compare);
        return new Pair(xmin, compare, entity, connection ?? pg.ConnectionString);
    }

    /// <summary>Runs <paramref name="kind"/> in both registers inside one snapshot, then checks they published the same bytes.</summary>
    private async Task<List<string>> RunBothAsync(Pair pair, RunKind kind)
    {
        pair.Log.Lines.Clear();
        pair.Xmin.Schedule.Spec.Entities = [pair.Entity];
        pair.Compare.Schedule.Spec.Entities = [pair.Entity];
        var source = new PostgresSource(new PostgresSourceSpec(), [pair.Entity], pair.Connection, pair.Log);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        var xminRun = await pair.Xmin.RunAsync(kind, source: new SharedSnapshot(snapshot, withholdWatermark: false), logger: pair.Log);
        var lines = pair.Log.Lines.ToList();
        await pair.Compare.RunAsync(kind, source: new SharedSnapshot(snapshot, withholdWatermark: true));
        foreach (var line in lines)
        {
            output.WriteLine(line);
        }

        await AssertSamePublicationAsync(pair, xminRun.Generation!.Value);
        return lines;
    }

    private static async Task AssertSamePublicationAsync(Pair pair, long generation)
    {
        var key = FileNaming.ManifestKey(pair.Xmin.Register, generation);
        var a = GenerationManifest.FromBytes((await pair.Xmin.Store.GetBytesAsync(key, CancellationToken.None))!, key);
        var b = GenerationManifest.FromBytes((await pair.Compare.Store.GetBytesAsync(key, CancellationToken.None))!, key);
        var ea = Assert.Single(a.Entities);
        var eb = Assert.Single(b.Entities);
        Assert.Equal(eb.Fingerprint, ea.Fingerprint);
        Assert.Equal(eb.Records, ea.Records);
        Assert.Equal(eb.Rebase, ea.Rebase);
        Assert.Equal(eb.State!.Format, ea.State!.Format);
        Assert.Equal(eb.State.Sha256, ea.State.Sha256);
        Assert.Equal(
            await pair.Compare.Store.GetBytesAsync(eb.State.Key, CancellationToken.None),
            await pair.Xmin.Store.GetBytesAsync(ea.State.Key, CancellationToken.None));
        Assert.Equal(
            b.Files.Select(f => (f.FileName, f.Sha256, f.SizeBytes, f.RecordCount)),
            a.Files.Select(f => (f.FileName, f.Sha256, f.SizeBytes, f.RecordCount)));
    }

    private static async Task<List<string>> DeltaAsync(ExportHarness h, long generation)
    {
        var catalog = await h.CatalogAsync();
        return [.. PublishedFiles.Read(h.Store, catalog, "T", FileNaming.DeltaDownload, TypesOfData.Current, generation)
            .Select(r => $"{r["operation"]} {r["id"]}").Order(StringComparer.Ordinal)];
    }

    private static long LastGeneration(ExportHarness h) => h.CatalogAsync().GetAwaiter().GetResult().LatestGeneration!.Value;

    [Fact]
    public async Task Updates_inserts_deletes_and_hot_updates_are_read_as_changed_rows_and_publish_what_a_full_compare_publishes()
    {
        await CreateTableAsync();
        var pair = NewPair();
        await RunBothAsync(pair, RunKind.Total);

        // v has no index, so these are HOT updates; id 5's note becomes NULL (a value, not "not sent"); id 8 is
        // rewritten with the values it had (a new xmin, no change); 1000 is new, 3 gone.
        await pg.ExecuteAsync($"""
            UPDATE {Table} SET v = v || '!' WHERE id % 50 = 0;
            UPDATE {Table} SET note = NULL WHERE id = 5;
            UPDATE {Table} SET v = v WHERE id = 8;
            INSERT INTO {Table} VALUES (1000, 'new', NULL, NULL);
            DELETE FROM {Table} WHERE id = 3;
            """);
        var log = await RunBothAsync(pair, RunKind.Delta);
        Assert.Contains(log, l => l.Contains(ChangedRowsRead, StringComparison.Ordinal));
        Assert.Equal(["delete 3", "insert 1000", "update 100", "update 150", "update 200", "update 5", "update 50"], await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin)));
        var five = PublishedFiles.Read(pair.Xmin.Store, await pair.Xmin.CatalogAsync(), "T", FileNaming.DeltaDownload, TypesOfData.Current, LastGeneration(pair.Xmin))
            .Single(r => (int)r["id"]! == 5);
        Assert.Null(five["note"]);
        Assert.Equal("v5", (string?)five["v"]);

        // Nothing written since: an empty delta, still by the changed-rows read.
        log = await RunBothAsync(pair, RunKind.Delta);
        Assert.Contains(log, l => l.Contains(ChangedRowsRead, StringComparison.Ordinal));
        Assert.Empty(await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin)));

        var report = await pair.Xmin.VerifyAsync();
        Assert.True(report.Ok, string.Join("\n", report.Problems));
    }

    [Fact]
    public async Task An_update_in_a_savepoint_subtransaction_is_read_as_changed()
    {
        await CreateTableAsync();
        var pair = NewPair();
        await RunBothAsync(pair, RunKind.Total);
        await pg.ExecuteAsync($"BEGIN; SELECT 1; SAVEPOINT s; UPDATE {Table} SET v = 'sub' WHERE id = 11; RELEASE SAVEPOINT s; COMMIT;");

        var log = await RunBothAsync(pair, RunKind.Delta);
        Assert.Contains(log, l => l.Contains(ChangedRowsRead, StringComparison.Ordinal));
        Assert.Equal(["update 11"], await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin)));
    }

    [Fact]
    public async Task A_row_written_by_a_transaction_still_open_at_the_previous_snapshot_reaches_the_next_delta()
    {
        await CreateTableAsync();
        var pair = NewPair();
        await using var writer = new NpgsqlConnection(pg.ConnectionString);
        await writer.OpenAsync();
        await using var tx = await writer.BeginTransactionAsync();
        await using (var update = new NpgsqlCommand($"UPDATE {Table} SET v = 'late' WHERE id = 12", writer, tx))
        {
            await update.ExecuteNonQueryAsync();
        }

        // The transaction has its xid and is running across the total's snapshot, and commits after it.
        await RunBothAsync(pair, RunKind.Total);
        await tx.CommitAsync();

        var log = await RunBothAsync(pair, RunKind.Delta);
        Assert.Contains(log, l => l.Contains(ChangedRowsRead, StringComparison.Ordinal));
        Assert.Equal(["update 12"], await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin)));
    }

    [Fact]
    public async Task A_prepared_transaction_committed_after_the_previous_snapshot_reaches_the_next_delta()
    {
        await using (var connection = new NpgsqlConnection(pg.ConnectionString))
        {
            await connection.OpenAsync();
            await using var show = new NpgsqlCommand("SHOW max_prepared_transactions", connection);
            if ((string)(await show.ExecuteScalarAsync())! == "0")
            {
                // The fixture enables them; a server given by BULKEXPORT_PG_BIN settings may not.
                output.WriteLine("skipped: max_prepared_transactions = 0 on this server");
                return;
            }
        }

        await CreateTableAsync();
        var pair = NewPair();
        var gid = "bx_" + _schema;
        await pg.ExecuteAsync($"BEGIN; UPDATE {Table} SET v = 'prepared' WHERE id = 13; PREPARE TRANSACTION '{gid}';");
        try
        {
            await RunBothAsync(pair, RunKind.Total);
            var log = await RunBothAsync(pair, RunKind.Delta);
            Assert.Contains(log, l => l.Contains(ChangedRowsRead, StringComparison.Ordinal));
            Assert.Empty(await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin)));
        }
        finally
        {
            await pg.ExecuteAsync($"COMMIT PREPARED '{gid}'");
        }

        var after = await RunBothAsync(pair, RunKind.Delta);
        Assert.Contains(after, l => l.Contains(ChangedRowsRead, StringComparison.Ordinal));
        Assert.Equal(["update 13"], await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin)));
    }

    [Fact]
    public async Task An_enum_label_rename_falls_back_to_a_full_compare()
    {
        await pg.ExecuteAsync($"CREATE SCHEMA IF NOT EXISTS {_schema}; CREATE TYPE {_schema}.status AS ENUM ('open', 'closed');");
        await CreateTableAsync(20, ", status " + _schema + ".status", ", CASE WHEN i % 2 = 0 THEN 'open' ELSE 'closed' END::" + _schema + ".status");
        var pair = NewPair();
        await RunBothAsync(pair, RunKind.Total);
        await pg.ExecuteAsync($"ALTER TYPE {_schema}.status RENAME VALUE 'open' TO 'active'");

        var log = await RunBothAsync(pair, RunKind.Delta);
        Assert.Contains(log, l => l.Contains("full compare: the column types changed", StringComparison.Ordinal));
        Assert.DoesNotContain(log, l => l.Contains(ChangedRowsRead, StringComparison.Ordinal));
        Assert.Equal(10, (await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin))).Count);
    }

    [Fact]
    public async Task Add_column_with_a_default_falls_back_to_a_full_compare()
    {
        await CreateTableAsync(20);
        var pair = NewPair();
        await RunBothAsync(pair, RunKind.Total);
        // No rewrite: the rows keep their xmin but gain a value.
        await pg.ExecuteAsync($"ALTER TABLE {Table} ADD COLUMN flag text NOT NULL DEFAULT 'x'");

        var log = await RunBothAsync(pair, RunKind.Delta);
        Assert.Contains(log, l => l.Contains("full compare: the columns changed", StringComparison.Ordinal));
        Assert.Equal(20, (await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin))).Count);
    }

    [Fact]
    public async Task A_table_swapped_in_by_rename_falls_back_to_a_full_compare()
    {
        await CreateTableAsync(20);
        // The replacement is written before the base's snapshot, so its rows' xmins are all behind the horizon.
        await pg.ExecuteAsync($"CREATE TABLE {_schema}.t2 (LIKE {Table} INCLUDING ALL); INSERT INTO {_schema}.t2 SELECT id, CASE WHEN id = 4 THEN 'swapped' ELSE v END, n, note FROM {Table};");
        var pair = NewPair();
        await RunBothAsync(pair, RunKind.Total);
        await pg.ExecuteAsync($"ALTER TABLE {Table} RENAME TO t_old; ALTER TABLE {_schema}.t2 RENAME TO t;");

        var log = await RunBothAsync(pair, RunKind.Delta);
        Assert.Contains(log, l => l.Contains("full compare: the relation oid changed", StringComparison.Ordinal));
        Assert.Equal(["update 4"], await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin)));
    }

    [Fact]
    public async Task A_base_state_without_a_watermark_falls_back_to_a_full_compare()
    {
        await CreateTableAsync(20);
        var pair = NewPair(Entity(ChangeDetectionModes.Compare));
        await RunBothAsync(pair, RunKind.Total);
        await pg.ExecuteAsync($"UPDATE {Table} SET v = 'changed' WHERE id = 6");
        pair.Entity = Entity();

        var log = await RunBothAsync(pair, RunKind.Delta);
        Assert.Contains(log, l => l.Contains("full compare: the base state has no watermark", StringComparison.Ordinal));
        Assert.DoesNotContain(log, l => l.Contains(ChangedRowsRead, StringComparison.Ordinal));
        Assert.Equal(["update 6"], await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin)));

        // That delta recorded a watermark: the next one reads changed rows.
        await pg.ExecuteAsync($"UPDATE {Table} SET v = 'again' WHERE id = 7");
        log = await RunBothAsync(pair, RunKind.Delta);
        Assert.Contains(log, l => l.Contains(ChangedRowsRead, StringComparison.Ordinal));
        Assert.Equal(["update 7"], await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin)));
    }

    [Fact]
    public async Task Rows_made_visible_by_a_policy_change_abandon_the_changed_rows_read_for_a_full_compare_in_the_same_snapshot()
    {
        await CreateTableAsync(20);
        var role = "bx_" + _schema;
        var password = "pw-" + Guid.NewGuid().ToString("N");
        await pg.ExecuteAsync($"""
            CREATE ROLE {role} LOGIN PASSWORD '{password}';
            GRANT USAGE ON SCHEMA {_schema} TO {role};
            GRANT SELECT ON {Table} TO {role};
            ALTER TABLE {Table} ENABLE ROW LEVEL SECURITY;
            CREATE POLICY few ON {Table} FOR SELECT TO {role} USING (id <= 10);
            """);
        var pair = NewPair(connection: pg.ConnectionStringFor(PostgresFixture.Database, role, password));
        await RunBothAsync(pair, RunKind.Total);
        // The rows 11-15 are old (their xmin is behind the horizon) but new to this role.
        await pg.ExecuteAsync($"ALTER POLICY few ON {Table} USING (id <= 15)");

        var log = await RunBothAsync(pair, RunKind.Delta);
        Assert.Contains(log, l => l.Contains("full compare in the same snapshot: key (id=11) was read as unchanged but is not in the base state", StringComparison.Ordinal));
        Assert.Equal(["insert 11", "insert 12", "insert 13", "insert 14", "insert 15"], await DeltaAsync(pair.Xmin, LastGeneration(pair.Xmin)));
    }

    [Theory]
    // horizon, next xid: the xids from the horizon up to the next one are inside, the one before it and after are not.
    [InlineData(1000L, 1010L)]
    [InlineData((1L << 32) - 5, (1L << 32) + 5)]
    [InlineData((5L << 32) + 3, (5L << 32) + 3)]
    [InlineData((7L << 32) - 100, (7L << 32) + (1L << 31) - 101)]
    public async Task The_changed_condition_holds_exactly_for_xids_from_the_horizon_to_the_next_xid_modulo_2_to_the_32(long horizon, long nextXid)
    {
        var condition = PostgresChangeTracking.ChangedCondition(horizon, nextXid);
        long[] inside = [horizon, nextXid - 1, nextXid, (horizon + nextXid) / 2];
        long[] outside = [horizon - 1, horizon - 1000, nextXid + 1];
        await using var connection = new NpgsqlConnection(pg.ConnectionString);
        await connection.OpenAsync();
        async Task<bool> ChangedAsync(long xid)
        {
            var low = xid & 0xFFFFFFFFL;
            await using var command = new NpgsqlCommand($"SELECT {condition} FROM (SELECT '{low}'::xid AS xmin) AS t", connection);
            return (bool)(await command.ExecuteScalarAsync())!;
        }

        foreach (var xid in inside.Where(x => x >= 3))
        {
            Assert.True(await ChangedAsync(xid), $"xid {xid} is inside [{horizon}, {nextXid}]");
        }

        foreach (var xid in outside.Where(x => (x & 0xFFFFFFFFL) >= 3))
        {
            Assert.False(await ChangedAsync(xid), $"xid {xid} is outside [{horizon}, {nextXid}]");
        }

        // Frozen and bootstrap xids say nothing about age: changed.
        Assert.True(await ChangedAsync(2));
        Assert.True(await ChangedAsync(1));
    }

    /// <summary>One snapshot for several runs; <c>withholdWatermark</c> turns every read into a full compare.</summary>
    private sealed class SharedSnapshot(ISourceSnapshot inner, bool withholdWatermark) : ISource, ISourceSnapshot
    {
        public DateTimeOffset PointInTime => inner.PointInTime;

        public int MaxParallelReaders => inner.MaxParallelReaders;

        public ValueTask<ISourceSnapshot> OpenSnapshotAsync(CancellationToken cancellationToken) => ValueTask.FromResult<ISourceSnapshot>(this);

        public ValueTask<IRowReader> ReadAsync(EntitySpec entity, ReadRequest request, CancellationToken cancellationToken) =>
            inner.ReadAsync(entity, withholdWatermark ? request with { ChangedSince = null } : request, cancellationToken);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class CapturingLogger : ILogger<ExportRunner>
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
            {
                Lines.Add($"{eventId.Id} {formatter(state, exception)}");
            }
        }
    }
}
