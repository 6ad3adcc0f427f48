using System.Diagnostics;
using BulkExport.Api;
using BulkExport.Exporter.Rows;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;
using Npgsql;

namespace BulkExport.Exporter.Tests.Sources.Postgres;

/// <summary>
/// A COPY that stalls after its first rows (a row-producing function sleeping inside the entity's query)
/// must end soon after the token fires, with the <see cref="OperationCanceledException"/> an awaited read
/// gives, the server's statement must be stopped, and the snapshot's connection must serve the next read.
/// The raw decoder reads tuples synchronously once they flow, so this is its only way out of a stall.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresCopyCancellationTests(PostgresFixture pg)
{
    private const int StallAt = 60_000;

    private async Task<(EntitySpec Stalling, EntitySpec Plain)> CreateAsync()
    {
        await pg.ExecuteAsync($$"""
            CREATE OR REPLACE FUNCTION public.copy_cancel_stall(i integer) RETURNS integer
              LANGUAGE plpgsql VOLATILE AS $$ BEGIN IF i = {{StallAt}} THEN PERFORM pg_sleep(120); END IF; RETURN i; END $$;
            DROP TABLE IF EXISTS public.copy_cancel_plain;
            CREATE TABLE public.copy_cancel_plain (id integer PRIMARY KEY, v text);
            INSERT INTO public.copy_cancel_plain SELECT g, 'v' || g FROM generate_series(1, 3000) g;
            """);
        // Unsorted (no ORDER BY): rows stream before the stall, so the reader is past its awaited first read.
        var stalling = new EntitySpec
        {
            Name = "Stalling",
            Query = "SELECT public.copy_cancel_stall(g) AS id, repeat('x', 40) AS v FROM generate_series(1, 100000) g",
            Key = ["id"],
        };
        var plain = new EntitySpec { Name = "Plain", Table = "public.copy_cancel_plain", Key = ["id"] };
        return (stalling, plain);
    }

    [Fact]
    public async Task StalledCopy_EndsWithOperationCanceled_SoonAfterTheToken_AndTheConnectionServesTheNextRead()
    {
        var (stalling, plain) = await CreateAsync();
        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [stalling, plain], pg.ConnectionString);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);

        using var cts = new CancellationTokenSource();
        var read = 0L;
        Stopwatch? sinceCancel = null;
        await using (var reader = await snapshot.ReadAsync(stalling, new ReadRequest(SortByKey: false), CancellationToken.None))
        {
            var batch = new RowBatch(reader.Columns, 1024);
            var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                while (true)
                {
                    batch.Clear();
                    if (!await reader.FillAsync(batch, cts.Token))
                    {
                        break;
                    }

                    read += batch.Count;
                    if (read >= StallAt - 5000 && sinceCancel is null)
                    {
                        // Close to the stall: the next reads block inside it until the token fires.
                        sinceCancel = Stopwatch.StartNew();
                        cts.CancelAfter(TimeSpan.FromMilliseconds(300));
                    }
                }
            });

            Assert.NotNull(sinceCancel);
            Assert.InRange(sinceCancel.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(15));
            Assert.Equal(cts.Token, cancelled.CancellationToken);
            Assert.InRange(read, StallAt - 5000, StallAt - 1);
        }

        // The server stopped the statement rather than sleeping on.
        await using (var admin = new NpgsqlConnection(pg.ConnectionString))
        {
            await admin.OpenAsync();
            await using var active = new NpgsqlCommand(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%copy_cancel_stall(g)%' AND state = 'active' AND pid <> pg_backend_pid()", admin);
            Assert.Equal(0L, (long)(await active.ExecuteScalarAsync())!);
        }

        // The next read on the same snapshot gets every row.
        await using (var next = await snapshot.ReadAsync(plain, new ReadRequest(SortByKey: true), CancellationToken.None))
        {
            var ids = new List<long>();
            while (await next.ReadAsync(CancellationToken.None))
            {
                ids.Add(Convert.ToInt64(next.Current[0], System.Globalization.CultureInfo.InvariantCulture));
            }

            Assert.Equal(Enumerable.Range(1, 3000).Select(i => (long)i), ids);
        }
    }

    [Fact]
    public async Task RawDecoder_TokenCancelledBetweenBatches_ThrowsOperationCanceledBeforeReading()
    {
        var (_, plain) = await CreateAsync();
        var source = new PostgresSource(new PostgresSourceSpec { Parallelism = 1 }, [plain], pg.ConnectionString);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(plain, new ReadRequest(SortByKey: true), CancellationToken.None);
        var batch = new RowBatch(reader.Columns, 1000);
        Assert.True(await reader.FillAsync(batch, CancellationToken.None));
        Assert.Equal(1000, batch.Count);

        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        batch.Clear();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await reader.FillAsync(batch, cts.Token));
        Assert.Equal(0, batch.Count);
    }
}
