using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Publishing.Layout;
using Npgsql;

namespace BulkExport.Exporter.Tests.Integration;

/// <summary>
/// The consumer promise against the fixture's real PostgreSQL cluster: after each kind of change a
/// registration-time window missed, and under a steady concurrent writer, a consumer reading only the
/// published files holds exactly every later generation, by rows and by fingerprint.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresConsumerPromiseTests(PostgresFixture pg) : IDisposable
{
    private readonly string _schema = "cp_" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<IDisposable> _owned = [];

    private (ExportHarness H, PostgresSource Source) Register(params EntitySpec[] entities)
    {
        var h = new ExportHarness(s => s.Entities = [.. entities]);
        _owned.Add(h);
        return (h, new PostgresSource(new PostgresSourceSpec { Parallelism = 2 }, entities, pg.ConnectionString));
    }

    private EntitySpec Adresse() => new()
    {
        Name = "Adresse",
        Table = $"{_schema}.adresse",
        Key = ["id"],
        Temporal = new TemporalSpec { RegistrationFrom = "regfra", RegistrationTo = "regtil", EffectiveFrom = "virkfra", EffectiveTo = "virktil" },
    };

    private async Task CreateAdresseAsync(int rows) => await pg.ExecuteAsync($"""
        CREATE SCHEMA IF NOT EXISTS {_schema};
        CREATE TABLE {_schema}.adresse (id int NOT NULL, status text, regfra timestamptz NOT NULL, regtil timestamptz, virkfra timestamptz NOT NULL, virktil timestamptz,
          PRIMARY KEY (id, regfra, virkfra));
        INSERT INTO {_schema}.adresse SELECT i, 'v0', now() - interval '1 day', NULL, now() - interval '1 day', NULL FROM generate_series(1, {rows}) i;
        """);

    private static async Task<List<string>> DeltaAsync(ExportHarness h, string entity, long generation, string typeOfData = TypesOfData.Bitemporal, string id = "id")
    {
        var catalog = await h.CatalogAsync();
        return [.. PublishedFiles.Read(h.Store, catalog, entity, FileNaming.DeltaDownload, typeOfData, generation).Select(r => $"{r["operation"]} {r[id]}").Order(StringComparer.Ordinal)];
    }

    [Fact]
    public async Task LateCommit_PhysicalDelete_InPlaceCorrection_AndRestore_AllReachTheConsumer()
    {
        await CreateAdresseAsync(5);
        var (h, source) = Register(Adresse());
        await h.RunAsync(RunKind.Total, source: source);

        // A transaction stamps its registration (now(): its start) and commits after the next run's snapshot.
        await using (var late = new NpgsqlConnection(pg.ConnectionString))
        {
            await late.OpenAsync();
            await using var tx = await late.BeginTransactionAsync();
            await using (var insert = new NpgsqlCommand($"INSERT INTO {_schema}.adresse VALUES (100, 'late', now(), NULL, now(), NULL)", late, tx))
            {
                await insert.ExecuteNonQueryAsync();
            }

            await h.RunAsync(RunKind.Delta, source: source);
            await tx.CommitAsync();
        }

        Assert.Empty(await DeltaAsync(h, "Adresse", 2));
        await h.RunAsync(RunKind.Delta, source: source);
        Assert.Equal(["insert 100"], await DeltaAsync(h, "Adresse", 3));

        await pg.ExecuteAsync($"CREATE TABLE {_schema}.saved AS SELECT * FROM {_schema}.adresse");
        await pg.ExecuteAsync($"DELETE FROM {_schema}.adresse WHERE id = 2");
        await h.RunAsync(RunKind.Total, source: source);
        Assert.Equal(["delete 2"], await DeltaAsync(h, "Adresse", 4));

        await pg.ExecuteAsync($"UPDATE {_schema}.adresse SET status = 'corrected' WHERE id = 3");
        await h.RunAsync(RunKind.Delta, source: source);
        Assert.Equal(["update 3"], await DeltaAsync(h, "Adresse", 5));

        // Restored from the saved copy, then a history rewrite: id 4's registration re-imported with another start.
        await pg.ExecuteAsync($"TRUNCATE {_schema}.adresse; INSERT INTO {_schema}.adresse SELECT * FROM {_schema}.saved;");
        await h.RunAsync(RunKind.Total, source: source);
        Assert.Equal(["insert 2", "update 3"], await DeltaAsync(h, "Adresse", 6));
        await pg.ExecuteAsync($"UPDATE {_schema}.adresse SET regfra = regfra + interval '1 minute' WHERE id = 4");
        await h.RunAsync(RunKind.Total, source: source);
        Assert.Equal(["delete 4", "insert 4"], await DeltaAsync(h, "Adresse", 7));

        Assert.True(await PublishedMirror.AssertHoldsEveryGenerationAsync(h.Store, h.Register) >= 6);
        var report = await h.VerifyAsync();
        Assert.True(report.Ok, string.Join("\n", report.Problems));
    }

    [Fact]
    public async Task SteadyConcurrentWriter_LosesNoRegistrationOrClosing_AcrossBackToBackDeltas()
    {
        await CreateAdresseAsync(200);
        var (h, source) = Register(Adresse());
        await h.RunAsync(RunKind.Total, source: source);

        using var stop = new CancellationTokenSource();
        long transactions = 0;
        var writer = Task.Run(async () =>
        {
            var rng = new Random(9);
            await using var connection = new NpgsqlConnection(pg.ConnectionString);
            await connection.OpenAsync();
            while (!stop.IsCancellationRequested)
            {
                // A short transaction: close a current registration, open its successor, hold 30 ms.
                var id = rng.Next(1, 201);
                await using var tx = await connection.BeginTransactionAsync();
                await using var command = new NpgsqlCommand($"""
                    WITH closed AS (UPDATE {_schema}.adresse SET regtil = now() WHERE id = {id} AND regtil IS NULL AND regfra < now() RETURNING id, virkfra)
                    INSERT INTO {_schema}.adresse SELECT id, 'w{Interlocked.Read(ref transactions)}', now(), NULL, virkfra, NULL FROM closed;
                    SELECT pg_sleep(0.03);
                    """, connection, tx);
                await command.ExecuteNonQueryAsync();
                await tx.CommitAsync();
                Interlocked.Increment(ref transactions);
            }
        });

        // At least 8 back-to-back deltas, and more while the writer has not yet got through enough
        // transactions to overlap them (a fast machine runs 8 deltas in a few writer transactions).
        for (var i = 0; i < 8 || (Interlocked.Read(ref transactions) <= 10 && i < 60); i++)
        {
            await h.RunAsync(RunKind.Delta, source: source);
        }

        await stop.CancelAsync();
        await writer;
        await h.RunAsync(RunKind.Total, source: source);

        Assert.True(transactions > 10, $"only {transactions} writer transactions");
        Assert.True(await PublishedMirror.AssertHoldsEveryGenerationAsync(h.Store, h.Register) >= 9);
        Assert.True((await h.VerifyAsync()).Ok);
    }

    [Fact]
    public async Task FloatKey_SurvivesADelete_AndByteaKeys_AreNotDuplicates()
    {
        await pg.ExecuteAsync($"""
            CREATE SCHEMA IF NOT EXISTS {_schema};
            CREATE TABLE {_schema}.f (k double precision PRIMARY KEY, v text);
            INSERT INTO {_schema}.f VALUES (-2.5, 'a'), (0.1, 'b'), (1e300, 'c');
            CREATE TABLE {_schema}.b (k bytea PRIMARY KEY, v text);
            INSERT INTO {_schema}.b VALUES ('\x00', 'a'), ('\x0001', 'b'), ('\xff', 'c');
            """);
        var (h, source) = Register(
            new EntitySpec { Name = "F", Table = $"{_schema}.f", Key = ["k"] },
            new EntitySpec { Name = "B", Table = $"{_schema}.b", Key = ["k"] });
        await h.RunAsync(RunKind.Total, source: source);
        await pg.ExecuteAsync($"DELETE FROM {_schema}.f WHERE k = 0.1; DELETE FROM {_schema}.b WHERE k = '\\x0001';");
        await h.RunAsync(RunKind.Delta, source: source);
        Assert.Equal(["delete 0.1"], await DeltaAsync(h, "F", 2, TypesOfData.Current, "k"));
        Assert.Equal(["delete AAE="], await DeltaAsync(h, "B", 2, TypesOfData.Current, "k"));

        // Later runs keep working (a float tombstone once failed every later run of the register).
        await pg.ExecuteAsync($"INSERT INTO {_schema}.f VALUES (0.1, 'back'); UPDATE {_schema}.b SET v = 'z' WHERE k = '\\xff';");
        await h.RunAsync(RunKind.Delta, source: source);
        await h.RunAsync(RunKind.Total, source: source);
        Assert.Equal(["insert 0.1"], await DeltaAsync(h, "F", 3, TypesOfData.Current, "k"));
        Assert.Equal(["update /w=="], await DeltaAsync(h, "B", 3, TypesOfData.Current, "k"));
        await PublishedMirror.AssertHoldsEveryGenerationAsync(h.Store, h.Register);
        Assert.True((await h.VerifyAsync()).Ok);
    }

    [Fact]
    public async Task KeysThatCannotBeCompared_AndTemporalColumnsThatAreNotTimestamps_AreRefusedNamingTheField()
    {
        await pg.ExecuteAsync($"""
            CREATE SCHEMA IF NOT EXISTS {_schema};
            CREATE TABLE {_schema}.j (k jsonb, v text); INSERT INTO {_schema}.j VALUES ('[1]', 'x');
            CREATE TABLE {_schema}.t (id int, regfra text, regtil timestamptz, virkfra timestamptz, virktil timestamptz);
            """);
        var (h, source) = Register(new EntitySpec { Name = "J", Table = $"{_schema}.j", Key = ["k"] });
        var e = await Assert.ThrowsAsync<SourceException>(() => h.RunAsync(RunKind.Total, source: source));
        Assert.Contains("spec.entities[].key: column 'k' is Json", e.Message, StringComparison.Ordinal);

        var temporal = Adresse();
        temporal.Name = "T";
        temporal.Table = $"{_schema}.t";
        var (h2, source2) = Register(temporal);
        var e2 = await Assert.ThrowsAsync<SourceException>(() => h2.RunAsync(RunKind.Total, source: source2));
        Assert.Contains("spec.entities[].temporal.registrationFrom: column 'regfra' is Text, not a timestamp", e2.Message, StringComparison.Ordinal);
        Assert.Null(await h2.Store.GetBytesAsync(FileNaming.CatalogKey(h2.Register), CancellationToken.None));
    }

    [Fact]
    public async Task TemporalRowWithNullRegistrationStart_IsRefused_NamingEntityAndKey()
    {
        await pg.ExecuteAsync($"""
            CREATE SCHEMA IF NOT EXISTS {_schema};
            CREATE TABLE {_schema}.adresse (id int, status text, regfra timestamptz, regtil timestamptz, virkfra timestamptz, virktil timestamptz);
            INSERT INTO {_schema}.adresse VALUES (1, 'a', now(), NULL, now(), NULL), (7, 'b', NULL, NULL, now(), NULL);
            """);
        var (h, source) = Register(Adresse());

        var e = await Assert.ThrowsAsync<SourceException>(() => h.RunAsync(RunKind.Total, source: source));

        Assert.Contains("entity Adresse, key (id=7): registration start 'regfra' is NULL", e.Message, StringComparison.Ordinal);
        Assert.Null(await h.Store.GetBytesAsync(FileNaming.CatalogKey(h.Register), CancellationToken.None));
    }

    [Fact]
    public async Task TemporalRowWithNullEffectStart_IsRefused_NamingEntityKeyAndColumn()
    {
        await pg.ExecuteAsync($"""
            CREATE SCHEMA IF NOT EXISTS {_schema};
            CREATE TABLE {_schema}.adresse (id int, status text, regfra timestamptz, regtil timestamptz, virkfra timestamptz, virktil timestamptz);
            INSERT INTO {_schema}.adresse VALUES (1, 'a', now(), NULL, now(), NULL), (8, 'b', now(), NULL, NULL, NULL);
            """);
        var (h, source) = Register(Adresse());

        var e = await Assert.ThrowsAsync<SourceException>(() => h.RunAsync(RunKind.Total, source: source));

        Assert.Contains("entity Adresse, key (id=8): effect start 'virkfra' is NULL", e.Message, StringComparison.Ordinal);
        Assert.Null(await h.Store.GetBytesAsync(FileNaming.CatalogKey(h.Register), CancellationToken.None));
    }

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }

        pg.ExecuteAsync($"DROP SCHEMA IF EXISTS {_schema} CASCADE").GetAwaiter().GetResult();
    }
}
