using System.Text.Json.Nodes;
using BulkExport.Operator.Reconciling;
using BulkExport.Operator.Runtime;

namespace BulkExport.Operator.Tests.Runtime;

public sealed class DriftTests
{
    private static JsonObject Desired() => new()
    {
        ["metadata"] = new JsonObject
        {
            ["name"] = "x",
            ["labels"] = new JsonObject { ["a"] = "1" },
            ["annotations"] = new JsonObject { [Labels.DesiredHash] = "h1" },
        },
        ["spec"] = new JsonObject { ["schedule"] = "0 3 * * *", ["list"] = new JsonArray(new JsonObject { ["name"] = "c" }) },
    };

    private static JsonObject Live()
    {
        var live = Desired();
        live["metadata"]!["resourceVersion"] = "9";
        live["metadata"]!["labels"]!["extra"] = "kept";
        live["spec"]!["concurrencyPolicy"] = "Allow";
        live["spec"]!["list"]![0]!["terminationMessagePath"] = "/dev/termination-log";
        return live;
    }

    [Fact]
    public void Server_defaults_and_foreign_labels_are_not_drift()
    {
        Assert.True(Drift.Matches(Desired(), Live()));
    }

    [Fact]
    public void A_changed_owned_value_a_removed_list_item_or_a_different_hash_is_drift()
    {
        var changed = Live();
        changed["spec"]!["schedule"] = "* * * * *";
        var shorter = Live();
        shorter["spec"]!["list"] = new JsonArray();
        var longer = Live();
        longer["spec"]!["list"]!.AsArray().Add(new JsonObject { ["name"] = "sidecar" });
        var rehashed = Live();
        rehashed["metadata"]!["annotations"]![Labels.DesiredHash] = "h0";

        Assert.False(Drift.Matches(Desired(), changed));
        Assert.False(Drift.Matches(Desired(), shorter));
        Assert.False(Drift.Matches(Desired(), longer));
        Assert.False(Drift.Matches(Desired(), rehashed));
    }

    [Fact]
    public void A_repair_keeps_the_resource_version_and_foreign_labels_and_replaces_the_spec()
    {
        var live = Live();
        live["spec"]!["schedule"] = "* * * * *";

        var repaired = Drift.Repair(Desired(), live);

        Assert.Equal("9", (string?)repaired["metadata"]!["resourceVersion"]);
        Assert.Equal("kept", (string?)repaired["metadata"]!["labels"]!["extra"]);
        Assert.Equal("0 3 * * *", (string?)repaired["spec"]!["schedule"]);
        Assert.Null(repaired["spec"]!["concurrencyPolicy"]);
    }
}

public sealed class ResourceQuantityTests
{
    [Theory]
    [InlineData("0.5", "500m")]
    [InlineData("1", "1000m")]
    [InlineData("1Gi", "1073741824")]
    [InlineData("1e3", "1k")]
    public void Equal_quantities_in_different_forms_are_equal(string a, string b)
    {
        Assert.True(ResourceQuantity.TryParse(a, out var x));
        Assert.True(ResourceQuantity.TryParse(b, out var y));
        Assert.Equal(x, y);
    }

    [Fact]
    public void A_canonicalized_resource_quantity_is_not_drift()
    {
        var desired = new System.Text.Json.Nodes.JsonObject { ["resources"] = new System.Text.Json.Nodes.JsonObject { ["requests"] = new System.Text.Json.Nodes.JsonObject { ["cpu"] = "0.5" } } };
        var live = new System.Text.Json.Nodes.JsonObject { ["resources"] = new System.Text.Json.Nodes.JsonObject { ["requests"] = new System.Text.Json.Nodes.JsonObject { ["cpu"] = "500m" } } };

        Assert.True(Drift.Subset(desired, live));
        Assert.False(Drift.Subset(new System.Text.Json.Nodes.JsonObject { ["image"] = "0.5" }, new System.Text.Json.Nodes.JsonObject { ["image"] = "500m" }));
    }
}
