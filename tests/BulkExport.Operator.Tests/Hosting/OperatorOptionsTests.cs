using BulkExport.Operator.Hosting;
using BulkExport.Operator.Tests.Support;

namespace BulkExport.Operator.Tests.Hosting;

public sealed class OperatorOptionsTests
{
    [Fact]
    public void Defaults_are_valid()
    {
        Assert.Empty(new OperatorOptions().Validate());
    }

    [Fact]
    public void Each_error_names_the_flag_and_its_environment_variable()
    {
        var errors = new OperatorOptions { LeaderElection = true, LeaseNamespace = null, HealthPort = 70000, Namespaces = ["Bad_NS"] }.Validate();

        Assert.Contains(errors, e => e.StartsWith("--lease-namespace (POD_NAMESPACE)", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("--health-port (HEALTH_PORT)", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("--namespaces (WATCH_NAMESPACES)", StringComparison.Ordinal) && e.Contains("Bad_NS", StringComparison.Ordinal));
    }

    [Fact]
    public void Render_prints_the_config_map_and_both_cron_jobs_without_a_cluster()
    {
        var yaml = Program.Render(TestSchedules.SamplePath, "exporter:9");

        var docs = BulkExport.Api.ScheduleDocument.ParseYaml(yaml);
        Assert.Equal(["ConfigMap", "CronJob", "CronJob"], docs.Select(d => (string?)d!["kind"]));
        Assert.Equal(["dar-config", "dar-total", "dar-delta"], docs.Select(d => (string?)d!["metadata"]!["name"]));
        Assert.Null(docs[1]!["metadata"]!["ownerReferences"]);
        Assert.Equal("exporter:9", (string?)docs[1]!["spec"]!["jobTemplate"]!["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]);
    }
}
