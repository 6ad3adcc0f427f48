using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Sources.Postgres;
using BulkExport.Publishing.Stores.S3;
using BulkExport.Exporter.Tests.Fixtures;
using BulkExport.Exporter.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using BulkExport.Tests.Shared;

namespace BulkExport.Exporter.Tests.Integration;

/// <summary>The whole product path against real components: a PostgreSQL snapshot in, s3rver out.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresToS3Tests(PostgresFixture pg, S3rverFixture s3) : IClassFixture<S3rverFixture>, IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("pg-s3-").FullName;
    private readonly string _schema = "it_" + Guid.NewGuid().ToString("N")[..8];

    private ExportSchedule Schedule() => new()
    {
        Metadata = new ObjectMeta { Name = "dar" },
        Spec = new ExportScheduleSpec
        {
            Register = "DAR" + _schema[3..].ToUpperInvariant(),
            Total = new CronSchedule { Schedule = "0 3 * * 6" },
            Delta = new CronSchedule { Schedule = "0 3 * * *" },
            Source = new SourceSpec { Postgres = new PostgresSourceSpec { ConnectionSecretRef = new SecretKeySelector { Name = "db" }, Parallelism = 2 } },
            Entities =
            [
                new EntitySpec { Name = "Postnummer", Table = $"{_schema}.postnummer", Key = ["postnr"] },
                new EntitySpec
                {
                    Name = "Adresse",
                    Table = $"{_schema}.adresse",
                    Key = ["id"],
                    Temporal = new TemporalSpec { RegistrationFrom = "regfra", RegistrationTo = "regtil", EffectiveFrom = "virkfra", EffectiveTo = "virktil" },
                },
            ],
            Output = new OutputSpec { Formats = [OutputFormats.JsonLines, OutputFormats.Csv] },
            Storage = new StorageSpec { S3 = new S3StorageSpec { Bucket = S3rverFixture.Bucket, Prefix = _schema + "/", Endpoint = s3.Endpoint, ForcePathStyle = true, Region = "us-east-1", Compatibility = S3Compatibility.Legacy } },
        },
    };

    [Fact]
    public async Task TotalThenDelta_FromAPostgresSnapshot_ToS3_VerifyAndReplay()
    {
        await pg.ExecuteAsync($"""
            CREATE SCHEMA {_schema};
            CREATE TABLE {_schema}.postnummer (postnr integer PRIMARY KEY, navn text NOT NULL, areal numeric(12,2));
            INSERT INTO {_schema}.postnummer SELECT g, 'By ' || g, g * 1.25 FROM generate_series(1000, 1999) g;
            CREATE TABLE {_schema}.adresse (id uuid NOT NULL, tekst text, regfra timestamptz NOT NULL, regtil timestamptz, virkfra timestamptz, virktil timestamptz);
            INSERT INTO {_schema}.adresse SELECT gen_random_uuid(), 'Vej ' || g, now() - interval '1 day', NULL, now() - interval '1 day', NULL FROM generate_series(1, 500) g;
            """);
        var schedule = Schedule();
        var store = new S3ObjectStore(schedule.Spec.Storage.S3!, S3rverFixture.Credentials);
        var source = new PostgresSource(schedule.Spec.Source.Postgres!, schedule.Spec.Entities, pg.ConnectionString);
        ExportRunner Runner() => new(schedule, source, store, TimeProvider.System, NullLogger<ExportRunner>.Instance, NoProgress.Instance, new ExportRunnerOptions { TempRoot = _temp });

        var total = await Runner().RunAsync(RunKind.Total, CancellationToken.None);

        await pg.ExecuteAsync($"""
            UPDATE {_schema}.postnummer SET navn = 'Ændret' WHERE postnr = 1500;
            DELETE FROM {_schema}.postnummer WHERE postnr = 1001;
            INSERT INTO {_schema}.postnummer VALUES (9999, 'Ny', 1.00);
            UPDATE {_schema}.adresse SET regtil = now() WHERE tekst = 'Vej 7';
            INSERT INTO {_schema}.adresse SELECT id, 'Vej 7 (ny)', now(), NULL, virkfra, NULL FROM {_schema}.adresse WHERE tekst = 'Vej 7';
            """);
        await Task.Delay(10);
        var delta = await Runner().RunAsync(RunKind.Delta, CancellationToken.None);

        Assert.Equal(total.Generation + 1, delta.Generation);
        Assert.Equal(total.Generation, delta.BaseGeneration);
        var register = schedule.Spec.Register;
        var report = await new Verifier(store, register).VerifyAsync(CancellationToken.None);
        Assert.True(report.Ok, string.Join("; ", report.Problems));
        var catalog = Catalog.FromBytes((await store.GetBytesAsync(FileNaming.CatalogKey(register), CancellationToken.None))!, "catalog");

        var plainDelta = PublishedFiles.Read(store, catalog, "Postnummer", FileNaming.DeltaDownload, TypesOfData.Current, delta.Generation!.Value);
        Assert.Equal(["1001:delete", "1500:update", "9999:insert"], plainDelta.Select(r => $"{r["postnr"]}:{r["operation"]}").Order());
        var temporalDelta = PublishedFiles.Read(store, catalog, "Adresse", FileNaming.DeltaDownload, TypesOfData.Bitemporal, delta.Generation.Value);
        Assert.Equal(["Vej 7 (ny):insert", "Vej 7:update"], temporalDelta.Select(r => $"{r["tekst"]}:{r["operation"]}").Order());

        var consumer = PublishedFiles.ByIdentity(PublishedFiles.Read(store, catalog, "Postnummer", FileNaming.TotalDownload, TypesOfData.Current, total.Generation!.Value), ["postnr"]);
        PublishedFiles.Apply(consumer, plainDelta, ["postnr"]);
        Assert.Equal(1000, consumer.Count);
        Assert.Equal("Ændret", (string)consumer["1500"]["navn"]!);
        Assert.Equal("1875.00", consumer["1500"]["areal"]!.ToJsonString());

        var csv = catalog.Files.Single(f => f.EntityName == "Postnummer" && f.TypeOfDownload == FileNaming.TotalDownload && f.ContainedFileFormat == "CSV");
        await using var zipStream = await store.OpenReadAsync(csv.Key, CancellationToken.None);
        using var zip = new System.IO.Compression.ZipArchive(zipStream);
        using var ddl = new StreamReader(zip.Entries.Single(e => e.Name.EndsWith(".sql", StringComparison.Ordinal)).Open());
        var text = await ddl.ReadToEndAsync();
        Assert.Contains("\"areal\" numeric(12,2)", text, StringComparison.Ordinal);
        Assert.Contains("PRIMARY KEY (\"postnr\")", text, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_temp, recursive: true);
}
