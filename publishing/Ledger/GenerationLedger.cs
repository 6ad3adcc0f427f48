using System.Globalization;
using System.Text;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Signing;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Ledger;

/// <summary>
/// The generation sequence of one register, kept in the store itself:
/// <list type="number">
/// <item>claim: <c>N.claim</c> created with create-new, N above every claim and commit seen;</item>
/// <item>prepare: the finished manifest as <c>N.pending</c>;</item>
/// <item>commit: <c>B.next</c> (B = the base generation) created with create-new, naming N. Only one
/// generation can follow B, so two runs that started from the same base cannot both commit;</item>
/// <item>publish: <c>N.json</c>, the manifest consumers and the catalog read.</item>
/// </list>
/// A crash after step 3 is rolled forward by the next reader from <c>N.pending</c>; a crash before it
/// leaves an unused claim (a gap, which consumers accept) and orphan files for retention.
/// </summary>
internal sealed class GenerationLedger(IObjectStore store, string register)
{
    private const int MaxClaimAttempts = 1000;

    public string Register { get; } = register;

    /// <summary>Reads the committed state, completing any commit that a crashed run left half-published.</summary>
    public async Task<LedgerState> ReadAsync(CancellationToken cancellationToken)
    {
        var claims = new SortedSet<long>();
        var manifests = new SortedSet<long>();
        var successors = new SortedSet<long>();
        await foreach (var obj in store.ListAsync(FileNaming.GenerationsFolder(Register), cancellationToken).ConfigureAwait(false))
        {
            if (!FileNaming.TryParseGenerationFile(obj.Key, Register, out var generation, out var suffix))
            {
                continue;
            }

            switch (suffix)
            {
                case "claim":
                    claims.Add(generation);
                    break;
                case "json":
                    manifests.Add(generation);
                    break;
                case "next":
                    successors.Add(generation);
                    break;
            }
        }

        var latest = manifests.Count > 0 ? manifests.Max : 0;
        GenerationManifest? latestManifest = null;
        while (successors.Contains(latest))
        {
            var next = await ReadSuccessorAsync(latest, cancellationToken).ConfigureAwait(false);
            if (!manifests.Contains(next))
            {
                await RollForwardAsync(next, cancellationToken).ConfigureAwait(false);
                manifests.Add(next);
            }

            latest = next;
        }

        if (latest > 0)
        {
            latestManifest = await ReadManifestAsync(latest, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidDataException($"{store.Describe(FileNaming.ManifestKey(Register, latest))}: committed manifest is missing");
        }

        var highest = new[] { claims.Count > 0 ? claims.Max : 0, manifests.Count > 0 ? manifests.Max : 0, latest }.Max();
        return new LedgerState(latestManifest, [.. manifests], highest);
    }

    /// <summary>Claims the next generation number. Never returns a number another run has claimed.</summary>
    public async Task<long> ClaimAsync(LedgerState state, string claimant, CancellationToken cancellationToken)
    {
        var candidate = state.HighestSeen + 1;
        var body = Encoding.UTF8.GetBytes(claimant);
        for (var attempt = 0; attempt < MaxClaimAttempts; attempt++, candidate++)
        {
            if (await store.TryCreateAsync(FileNaming.ClaimKey(Register, candidate), body, cancellationToken).ConfigureAwait(false))
            {
                return candidate;
            }
        }

        throw new StoreException($"could not claim a generation of {Register} after {MaxClaimAttempts} attempts", transient: true);
    }

    /// <summary>
    /// Commits <paramref name="manifest"/>. Throws <see cref="CommitConflictException"/> when another
    /// generation was committed after this run's base; this run's files then stay unreferenced.
    /// </summary>
    /// <param name="signer">
    /// With signing configured: the manifest names the next key, and its detached signature is
    /// written before the commit point, so the manifest never exists without it (a roll-forward
    /// publishes the prepared bytes the signature covers).
    /// </param>
    public async Task CommitAsync(GenerationManifest manifest, CancellationToken cancellationToken, PublicationSigner? signer = null)
    {
        manifest.NextSigningKey = signer?.Next;
        var bytes = manifest.ToBytes();
        var generation = manifest.Generation;
        await store.PutBytesAsync(FileNaming.PendingKey(Register, generation), bytes, "application/json", cancellationToken).ConfigureAwait(false);
        if (signer is not null)
        {
            await signer.PublishKeysAsync(store, Register, cancellationToken).ConfigureAwait(false);
            await store.PutBytesAsync(FileNaming.ManifestSignatureKey(Register, generation), System.Text.Encoding.ASCII.GetBytes(signer.Sign(bytes)), "application/jose", cancellationToken).ConfigureAwait(false);
        }

        var baseGeneration = manifest.BaseGeneration ?? 0;
        var link = Encoding.UTF8.GetBytes(generation.ToString(CultureInfo.InvariantCulture));
        if (!await store.TryCreateAsync(FileNaming.SuccessorKey(Register, baseGeneration), link, cancellationToken).ConfigureAwait(false))
        {
            var winner = await ReadSuccessorAsync(baseGeneration, cancellationToken).ConfigureAwait(false);
            if (winner != generation)
            {
                throw new CommitConflictException(
                    $"generation {generation} of {Register} was not committed: generation {winner} was committed after the same base {baseGeneration} while this run was in progress; run again");
            }
        }

        // Past the commit point: failures from here on are completed by the next reader (roll-forward).
        await store.TryCreateAsync(FileNaming.ManifestKey(Register, generation), bytes, cancellationToken).ConfigureAwait(false);
        await store.DeleteAsync([FileNaming.PendingKey(Register, generation)], cancellationToken).ConfigureAwait(false);
    }

    public async Task<GenerationManifest?> ReadManifestAsync(long generation, CancellationToken cancellationToken)
    {
        var key = FileNaming.ManifestKey(Register, generation);
        var bytes = await store.GetBytesAsync(key, cancellationToken).ConfigureAwait(false);
        return bytes is null ? null : GenerationManifest.FromBytes(bytes, store.Describe(key));
    }

    /// <summary>Every committed manifest, oldest first.</summary>
    public async Task<List<GenerationManifest>> ReadCommittedAsync(LedgerState state, CancellationToken cancellationToken)
    {
        var result = new List<GenerationManifest>(state.Committed.Count);
        foreach (var generation in state.Committed)
        {
            if (await ReadManifestAsync(generation, cancellationToken).ConfigureAwait(false) is { } manifest)
            {
                result.Add(manifest);
            }
        }

        return result;
    }

    private async Task<long> ReadSuccessorAsync(long baseGeneration, CancellationToken cancellationToken)
    {
        var key = FileNaming.SuccessorKey(Register, baseGeneration);
        var bytes = await store.GetBytesAsync(key, cancellationToken).ConfigureAwait(false);
        if (bytes is null || !long.TryParse(Encoding.UTF8.GetString(bytes).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var next) || next <= baseGeneration)
        {
            throw new InvalidDataException($"{store.Describe(key)}: unreadable commit link");
        }

        return next;
    }

    private async Task RollForwardAsync(long generation, CancellationToken cancellationToken)
    {
        var pendingKey = FileNaming.PendingKey(Register, generation);
        var pending = await store.GetBytesAsync(pendingKey, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidDataException($"{store.Describe(pendingKey)}: generation {generation} is committed but its prepared manifest is missing");
        GenerationManifest.FromBytes(pending, store.Describe(pendingKey));
        await store.TryCreateAsync(FileNaming.ManifestKey(Register, generation), pending, cancellationToken).ConfigureAwait(false);
    }
}

/// <param name="Latest">The newest committed generation's manifest; null before the first commit.</param>
/// <param name="Committed">Committed generation numbers, ascending.</param>
/// <param name="HighestSeen">The highest number claimed or committed; the next claim is above it.</param>
internal sealed record LedgerState(GenerationManifest? Latest, IReadOnlyList<long> Committed, long HighestSeen);

/// <summary>Another run committed first; this run's work is discarded and it is worth running again (exit 75).</summary>
internal sealed class CommitConflictException(string message) : Exception(message);
