using BulkExport.Api;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Exporter.Tests.Fixtures;

namespace BulkExport.Exporter.Tests.Sources.Postgres;

/// <summary>A value the PostgreSQL source cannot read is reported with the entity, the row's key and the column.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresDataErrorTests(PostgresFixture pg)
{
    [Fact]
    public async Task UnreadableValue_NamesEntityKeyAndColumn()
    {
        await pg.ExecuteAsync("""
            DROP TABLE IF EXISTS public.unreadable;
            CREATE TABLE public.unreadable (id integer PRIMARY KEY, navn text, matrix integer[]);
            INSERT INTO public.unreadable VALUES (1, 'a', '{1,2}'), (2, 'b', '{{1,2},{3,4}}');
            """);
        var entity = new EntitySpec { Name = "Matrix", Table = "public.unreadable", Key = ["id"] };
        var source = new PostgresSource(new PostgresSourceSpec(), [entity], pg.ConnectionString);
        await using var snapshot = await source.OpenSnapshotAsync(CancellationToken.None);
        await using var reader = await snapshot.ReadAsync(entity, new ReadRequest(SortByKey: true), CancellationToken.None);

        var e = await Assert.ThrowsAsync<SourceException>(async () =>
        {
            while (await reader.ReadAsync(CancellationToken.None))
            {
            }
        });

        Assert.Contains("entity 'Matrix'", e.Message, StringComparison.Ordinal);
        Assert.Contains("key id=2", e.Message, StringComparison.Ordinal);
        Assert.Contains("column 'matrix'", e.Message, StringComparison.Ordinal);
        Assert.False(e.Transient);
    }
}
