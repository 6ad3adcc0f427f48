using BulkExport.Operator.Hosting;
using BulkExport.Operator.Tests.Support;

namespace BulkExport.Operator.Tests.Hosting;

public sealed class LeaderElectionTests
{
    private static OperatorOptions Replica(string identity, bool releaseOnCancel = true) => new()
    {
        ReleaseOnCancel = releaseOnCancel,
        Identity = identity,
        ExporterImage = "exporter:test",
        LeaderElection = true,
        LeaseNamespace = "bulkexport",
        LeaseDuration = TimeSpan.FromSeconds(2),
        RenewDeadline = TimeSpan.FromMilliseconds(1500),
        RetryPeriod = TimeSpan.FromMilliseconds(200),
    };

    [Fact]
    public async Task Of_two_replicas_only_the_lease_holder_reconciles()
    {
        await using var fx = await OperatorFixture.StartAsync();
        await using var a = await fx.StartOperator(Replica("a")).StartedAsync();
        await OperatorFixture.Eventually(() => a.Runtime.IsLeading, "a leads");
        await using var b = await fx.StartOperator(Replica("b")).StartedAsync();

        fx.CreateSchedule(TestSchedules.Files("dar"));
        await OperatorFixture.Eventually(() => fx.CronJob("dar-total") is not null, "reconciled by the leader");
        await Task.Delay(1000);

        Assert.True(a.Runtime.IsLeading);
        Assert.False(b.Runtime.IsLeading);
        Assert.True(a.Runtime.Controller.Reconciles > 0);
        Assert.Equal(0, b.Runtime.Controller.Reconciles);
        Assert.True(b.Runtime.IsReady, "a standby reports ready");
        Assert.Equal("a", (string?)fx.Server.Get("leases", "bulkexport", "bulkexport-operator")!["spec"]!["holderIdentity"]);
    }

    [Fact]
    public async Task When_the_leader_dies_without_releasing_the_lease_the_standby_takes_over_within_the_lease_duration()
    {
        await using var fx = await OperatorFixture.StartAsync();
        await using var a = await fx.StartOperator(Replica("a", releaseOnCancel: false)).StartedAsync();
        await OperatorFixture.Eventually(() => a.Runtime.IsLeading, "a leads");
        await using var b = await fx.StartOperator(Replica("b")).StartedAsync();
        await Task.Delay(500);

        // A crash: a stops renewing and never releases the lease.
        await a.StopAsync();
        var killedAt = DateTime.UtcNow;
        Assert.Equal("a", (string?)fx.Server.Get("leases", "bulkexport", "bulkexport-operator")!["spec"]!["holderIdentity"]);

        await OperatorFixture.Eventually(() => b.Runtime.IsLeading, "b takes over", TimeSpan.FromSeconds(10));
        var takeover = DateTime.UtcNow - killedAt;
        // Generous bound: the standby must wait out the lease (2 s) plus at most one retry period, not more.
        Assert.True(takeover < TimeSpan.FromSeconds(4.5), $"takeover took {takeover}, lease duration is 2 s");

        fx.CreateSchedule(TestSchedules.Files("dar"));
        await OperatorFixture.Eventually(() => fx.CronJob("dar-total") is not null, "new leader reconciles");
        Assert.Equal("b", (string?)fx.Server.Get("leases", "bulkexport", "bulkexport-operator")!["spec"]!["holderIdentity"]);
        Assert.Equal(1, (int)fx.Server.Get("leases", "bulkexport", "bulkexport-operator")!["spec"]!["leaseTransitions"]!);
    }

    [Fact]
    public async Task A_leader_that_shuts_down_releases_the_lease_so_the_standby_takes_over_at_once()
    {
        await using var fx = await OperatorFixture.StartAsync();
        var a = await fx.StartOperator(Replica("a")).StartedAsync();
        await OperatorFixture.Eventually(() => a.Runtime.IsLeading, "a leads");
        await using var b = await fx.StartOperator(Replica("b")).StartedAsync();

        await a.StopAsync();

        // Well under the 2 s lease duration: the released lease is taken at the next retry.
        await OperatorFixture.Eventually(() => b.Runtime.IsLeading, "b takes over", TimeSpan.FromMilliseconds(1900));
    }

    [Fact]
    public async Task Case4_a_leader_whose_api_server_hangs_stops_leading_before_the_lease_could_expire_and_a_standby_takes_over_after()
    {
        await using var fx = await OperatorFixture.StartAsync();
        await using var a = await fx.StartOperator(Replica("a")).StartedAsync();
        await OperatorFixture.Eventually(() => a.Runtime.IsLeading, "a leads");
        await using var b = await fx.StartOperator(Replica("b")).StartedAsync();
        await Task.Delay(300);
        var lastRenew = LeaseRenewTime(fx);

        // Every request from now on gets no answer: a's renew hangs, it must not wait it out.
        fx.Server.Hang();
        await OperatorFixture.Eventually(() => !a.Runtime.IsLeading, "a steps down", TimeSpan.FromSeconds(5));
        var steppedDown = DateTimeOffset.UtcNow;
        // Others may take the lease once it is a lease duration (2 s) old; a stopped before that.
        Assert.True(steppedDown < lastRenew + TimeSpan.FromSeconds(2), $"a stepped down at {steppedDown:O}, the lease was renewed at {lastRenew:O}");

        fx.Server.Resume();
        await OperatorFixture.Eventually(() => a.Runtime.IsLeading || b.Runtime.IsLeading, "someone leads again", TimeSpan.FromSeconds(10));
        Assert.False(a.Runtime.IsLeading && b.Runtime.IsLeading);
    }

    private static DateTimeOffset LeaseRenewTime(OperatorFixture fx) =>
        DateTimeOffset.Parse((string)fx.Server.Get("leases", "bulkexport", "bulkexport-operator")!["spec"]!["renewTime"]!, System.Globalization.CultureInfo.InvariantCulture);
}
