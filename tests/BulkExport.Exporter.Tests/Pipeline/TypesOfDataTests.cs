using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Pipeline;

public sealed class TypesOfDataTests
{
    internal static readonly Column[] AdresseColumns =
    [
        new("id", ColumnKind.Text),
        new("tekst", ColumnKind.Text),
        new("regfra", ColumnKind.TimestampTz),
        new("regtil", ColumnKind.TimestampTz),
        new("virkfra", ColumnKind.TimestampTz),
        new("virktil", ColumnKind.TimestampTz),
    ];

    internal static EntitySpec Adresse() => new()
    {
        Name = "Adresse",
        Key = ["id"],
        Temporal = new TemporalSpec { RegistrationFrom = "regfra", RegistrationTo = "regtil", EffectiveFrom = "virkfra", EffectiveTo = "virktil" },
    };

    [Fact]
    public async Task HandCheckedFixture_EachTypeOfData_HoldsExactlyTheRowsItsDefinitionSelects()
    {
        using var h = new ExportHarness(s => s.Entities = [Adresse()]);
        var t = h.Time.GetUtcNow();
        object?[] Row(string label, DateTimeOffset? regFrom, DateTimeOffset? regTo, DateTimeOffset? effFrom, DateTimeOffset? effTo) =>
            [label[..1], label, regFrom, regTo, effFrom, effTo];
        h.Source.Set("Adresse", AdresseColumns,
        [
            Row("A current", t.AddDays(-10), null, t.AddDays(-10), null),
            Row("A replaced registration", t.AddDays(-20), t.AddDays(-10), t.AddDays(-20), null),
            Row("B effect ended", t.AddDays(-5), null, t.AddDays(-5), t.AddDays(-1)),
            Row("C effect in the future", t.AddDays(-5), null, t.AddDays(2), null),
            Row("D registered after the point in time", t.AddHours(1), null, t.AddHours(1), null),
            Row("E registration ends later", t.AddDays(-5), t.AddDays(1), t.AddDays(-5), null),
            Row("F open effect start", t.AddDays(-5), null, null, null),
        ]);

        await h.RunAsync(RunKind.Total, advance: TimeSpan.Zero);
        var catalog = await h.CatalogAsync();

        string[] Labels(string typeOfData) => [.. PublishedFiles.Read(h.Store, catalog, "Adresse", FileNaming.TotalDownload, typeOfData, 1).Select(r => (string)r["tekst"]!).Order()];
        Assert.Equal(["A current", "A replaced registration", "B effect ended", "C effect in the future", "E registration ends later", "F open effect start"], Labels(TypesOfData.Bitemporal));
        Assert.Equal(["A current", "B effect ended", "C effect in the future", "E registration ends later", "F open effect start"], Labels(TypesOfData.Temporal));
        Assert.Equal(["A current", "E registration ends later", "F open effect start"], Labels(TypesOfData.Current));
    }

    [Fact]
    public async Task RowRegisteredAfterThePointInTime_ArrivesInTheNextDelta()
    {
        using var h = new ExportHarness(s => s.Entities = [Adresse()]);
        var t = h.Time.GetUtcNow();
        h.Source.Set("Adresse", AdresseColumns, [["D", "late", t.AddMinutes(30), null, t.AddMinutes(30), null]]);

        await h.RunAsync(RunKind.Total);
        await h.RunAsync(RunKind.Delta);
        var catalog = await h.CatalogAsync();

        Assert.Empty(PublishedFiles.Read(h.Store, catalog, "Adresse", FileNaming.TotalDownload, TypesOfData.Bitemporal, 1));
        var delta = PublishedFiles.Read(h.Store, catalog, "Adresse", FileNaming.DeltaDownload, TypesOfData.Bitemporal, 2);
        Assert.Equal("insert", (string)delta.Single()["operation"]!);
    }

    [Fact]
    public async Task PlainEntity_GetsOnlyCurrentTotals_AndCurrentDeltas()
    {
        using var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }]);
        h.Source.Set("Postnummer", [new("nr", ColumnKind.Integer), new("navn", ColumnKind.Text)], [[8000L, "Aarhus C"]]);

        await h.RunAsync(RunKind.Total);
        var catalog = await h.CatalogAsync();

        Assert.All(catalog.Files, f => Assert.Equal(TypesOfData.Current, f.TypeOfData));
        Assert.Equal([FileNaming.DeltaDownload, FileNaming.TotalDownload], catalog.Files.Select(f => f.TypeOfDownload).Order());
    }
}
