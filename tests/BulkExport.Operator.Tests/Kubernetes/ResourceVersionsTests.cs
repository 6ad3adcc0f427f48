using BulkExport.Operator.Kubernetes;

namespace BulkExport.Operator.Tests.Kubernetes;

public sealed class ResourceVersionsTests
{
    [Theory]
    [InlineData("9", "10", -1)]
    [InlineData("10", "9", 1)]
    [InlineData("123", "123", 0)]
    [InlineData("99999999999999999999999999", "100000000000000000000000000", -1)]
    public void Integer_versions_compare_as_numbers_of_any_length(string a, string b, int expected) =>
        Assert.Equal(expected, ResourceVersions.Compare(a, b));

    [Theory]
    [InlineData("abc", "10")]
    [InlineData("10", "")]
    [InlineData("010", "9")]
    [InlineData("-1", "2")]
    [InlineData(null, "2")]
    public void Anything_but_well_formed_integers_does_not_compare(string? a, string b) =>
        Assert.Null(ResourceVersions.Compare(a, b));
}
