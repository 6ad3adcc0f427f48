using System.Text;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Tests.Ledger;

public sealed class GenerationLedgerTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("ledger-").FullName;
    private readonly LocalObjectStore _store;
    private readonly GenerationLedger _ledger;

    public GenerationLedgerTests()
    {
        _store = new LocalObjectStore(_root);
        _ledger = new GenerationLedger(_store, "DAR");
    }

    private static GenerationManifest Manifest(long generation, long? baseGeneration) => new()
    {
        Register = "DAR",
        Version = 1,
        Generation = generation,
        BaseGeneration = baseGeneration,
        Run = "delta",
        PointInTime = DateTimeOffset.UnixEpoch.AddDays(generation),
    };

    [Fact]
    public async Task EmptyStore_HasNoCommittedGeneration_AndClaimsOne()
    {
        var state = await _ledger.ReadAsync(CancellationToken.None);

        Assert.Null(state.Latest);
        Assert.Equal(1, await _ledger.ClaimAsync(state, "t", CancellationToken.None));
    }

    [Fact]
    public async Task ParallelClaims_FromTheSameView_NeverShareANumber()
    {
        var state = await _ledger.ReadAsync(CancellationToken.None);

        var claims = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => Task.Run(() => _ledger.ClaimAsync(state, $"run {i}", CancellationToken.None))));

        Assert.Equal(24, claims.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, 24).Select(i => (long)i), claims.Order());
    }

    [Fact]
    public async Task ClaimOfACrashedRun_IsNeverReused()
    {
        var state = await _ledger.ReadAsync(CancellationToken.None);
        var crashed = await _ledger.ClaimAsync(state, "crashed", CancellationToken.None);

        var next = await _ledger.ClaimAsync(await _ledger.ReadAsync(CancellationToken.None), "next", CancellationToken.None);

        Assert.Equal(crashed + 1, next);
    }

    [Fact]
    public async Task Commit_MakesTheGenerationTheLatest_AndRemovesThePreparedManifest()
    {
        var state = await _ledger.ReadAsync(CancellationToken.None);
        var generation = await _ledger.ClaimAsync(state, "t", CancellationToken.None);

        await _ledger.CommitAsync(Manifest(generation, null), CancellationToken.None);

        var after = await _ledger.ReadAsync(CancellationToken.None);
        Assert.Equal(generation, after.Latest!.Generation);
        Assert.Null(await _store.GetBytesAsync(FileNaming.PendingKey("DAR", generation), CancellationToken.None));
    }

    [Fact]
    public async Task TwoGenerationsFromTheSameBase_OnlyTheFirstCommits()
    {
        var state = await _ledger.ReadAsync(CancellationToken.None);
        var a = await _ledger.ClaimAsync(state, "a", CancellationToken.None);
        var b = await _ledger.ClaimAsync(state, "b", CancellationToken.None);

        await _ledger.CommitAsync(Manifest(b, null), CancellationToken.None);
        var e = await Assert.ThrowsAsync<CommitConflictException>(() => _ledger.CommitAsync(Manifest(a, null), CancellationToken.None));

        Assert.Contains($"generation {b} was committed", e.Message, StringComparison.Ordinal);
        var after = await _ledger.ReadAsync(CancellationToken.None);
        Assert.Equal([b], after.Committed);
    }

    [Fact]
    public async Task CrashBetweenCommitLinkAndManifest_IsRolledForwardByTheNextReader()
    {
        var manifest = Manifest(1, null);
        await _store.TryCreateAsync(FileNaming.ClaimKey("DAR", 1), "x"u8.ToArray(), CancellationToken.None);
        await _store.PutBytesAsync(FileNaming.PendingKey("DAR", 1), manifest.ToBytes(), "application/json", CancellationToken.None);
        await _store.TryCreateAsync(FileNaming.SuccessorKey("DAR", 0), Encoding.UTF8.GetBytes("1"), CancellationToken.None);

        var state = await _ledger.ReadAsync(CancellationToken.None);

        Assert.Equal(1, state.Latest!.Generation);
        Assert.NotNull(await _store.GetBytesAsync(FileNaming.ManifestKey("DAR", 1), CancellationToken.None));
    }

    [Fact]
    public async Task PreparedButUncommittedManifest_IsNotCommitted()
    {
        await _store.TryCreateAsync(FileNaming.ClaimKey("DAR", 1), "x"u8.ToArray(), CancellationToken.None);
        await _store.PutBytesAsync(FileNaming.PendingKey("DAR", 1), Manifest(1, null).ToBytes(), "application/json", CancellationToken.None);

        var state = await _ledger.ReadAsync(CancellationToken.None);

        Assert.Null(state.Latest);
        Assert.Equal(2, await _ledger.ClaimAsync(state, "t", CancellationToken.None));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
