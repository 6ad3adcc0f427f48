using System.Text.Json.Nodes;
using BulkExport.Operator.Reconciling;

namespace BulkExport.Operator.Tests.Reconciling;

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
