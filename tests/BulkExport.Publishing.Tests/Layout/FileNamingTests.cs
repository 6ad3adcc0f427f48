using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;

namespace BulkExport.Publishing.Tests.Layout;

public sealed class FileNamingTests
{
    [Fact]
    public void BaseName_FollowsTheNamingStandard() =>
        Assert.Equal("DAR_V1_Adresse_TotalDownload_JSON_Bitemporal_10", FileNaming.BaseName("DAR", 1, "Adresse", FileNaming.TotalDownload, "JSON", "Bitemporal", 10, 1, 1));

    [Fact]
    public void BaseName_OfASplitFile_NamesPartAndCount() =>
        Assert.Equal("DAR_V2_Husnummer_DeltaDownload_CSV_Current_7_part2of3", FileNaming.BaseName("DAR", 2, "Husnummer", FileNaming.DeltaDownload, "CSV", "Current", 7, 2, 3));

    [Fact]
    public void Keys_FollowTheStorageLayout()
    {
        Assert.Equal("DAR/V1/Adresse/DAR_V1_Adresse_TotalDownload_JSON_Bitemporal_10.zip", FileNaming.DataKey("DAR", 1, "Adresse", "DAR_V1_Adresse_TotalDownload_JSON_Bitemporal_10.zip"));
        Assert.Equal("DAR/generations/0000000010.json", FileNaming.ManifestKey("DAR", 10));
        Assert.Equal("DAR/catalog.json", FileNaming.CatalogKey("DAR"));
    }

    [Theory]
    [InlineData("DAR/generations/0000000042.claim", 42L, "claim")]
    [InlineData("DAR/generations/0000000007.next", 7L, "next")]
    [InlineData("DAR/generations/0000000001.json", 1L, "json")]
    public void GenerationFiles_ParseBack(string key, long generation, string suffix)
    {
        Assert.True(FileNaming.TryParseGenerationFile(key, "DAR", out var g, out var s));
        Assert.Equal(generation, g);
        Assert.Equal(suffix, s);
    }

    [Theory]
    [InlineData("DARX/generations/0000000042.claim")]
    [InlineData("DAR/generations/42.claim")]
    [InlineData("DAR/V1/Adresse/x.zip")]
    public void OtherKeys_AreNotGenerationFiles(string key) => Assert.False(FileNaming.TryParseGenerationFile(key, "DAR", out _, out _));
}
