using System.Security.Cryptography;
using System.Text;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Signing;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Verification;

/// <summary>
/// Checks the detached signatures of every committed manifest and of the catalog against the keys a
/// consumer trusts. Trust follows the rotation chain: the given keys, plus the key that signed the
/// previous verified manifest and the next key that manifest announced. A key that was rotated out
/// is no longer accepted for later objects unless the consumer passed it.
/// </summary>
internal sealed class SignatureVerifier(IObjectStore store, string register)
{
    public async Task<SignatureReport> VerifyAsync(IReadOnlyList<SigningJwk> anchors, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var ledger = new GenerationLedger(store, register);
        var state = await ledger.ReadAsync(cancellationToken).ConfigureAwait(false);
        var chain = new Dictionary<string, SigningJwk>(StringComparer.Ordinal);
        var signed = 0;
        foreach (var generation in state.Committed)
        {
            var key = FileNaming.ManifestKey(register, generation);
            var bytes = await store.GetBytesAsync(key, cancellationToken).ConfigureAwait(false);
            if (bytes is null)
            {
                continue;
            }

            var signer = await CheckAsync(key, bytes, FileNaming.ManifestSignatureKey(register, generation), anchors, chain, problems, cancellationToken).ConfigureAwait(false);
            if (signer is null)
            {
                continue;
            }

            signed++;
            chain.Clear();
            chain[signer.Kid] = signer;
            if (GenerationManifest.FromBytes(bytes, store.Describe(key)).NextSigningKey is { } next)
            {
                try
                {
                    // The id is recomputed from the key material, never taken from the document.
                    using var announced = next.ToPublicKey();
                    var jwk = SigningJwk.FromKey(announced);
                    chain[jwk.Kid] = jwk;
                }
                catch (CryptographicException e)
                {
                    problems.Add($"{store.Describe(key)}: nextSigningKey is not a usable EC P-256 key: {e.Message}");
                }
            }
        }

        var catalogKey = FileNaming.CatalogKey(register);
        var catalog = await store.GetBytesAsync(catalogKey, cancellationToken).ConfigureAwait(false);
        if (catalog is not null)
        {
            var signatureKey = FileNaming.CatalogSignatureKey(register, Convert.ToHexStringLower(SHA256.HashData(catalog)));
            if (await CheckAsync(catalogKey, catalog, signatureKey, anchors, chain, problems, cancellationToken).ConfigureAwait(false) is not null)
            {
                signed++;
            }
        }

        return new SignatureReport(signed, problems);
    }

    /// <summary>True when anything under the register carries a signature; a cheap listing, no checks.</summary>
    public async Task<bool> AnySignaturesAsync(CancellationToken cancellationToken)
    {
        await foreach (var obj in store.ListAsync(FileNaming.KeysFolder(register), cancellationToken).ConfigureAwait(false))
        {
            return true;
        }

        return false;
    }

    /// <returns>The key that made a valid signature, or null after adding the problem.</returns>
    private async Task<SigningJwk?> CheckAsync(
        string objectKey, byte[] payload, string signatureKey, IReadOnlyList<SigningJwk> anchors, Dictionary<string, SigningJwk> chain, List<string> problems, CancellationToken cancellationToken)
    {
        var what = store.Describe(objectKey);
        var signature = await store.GetBytesAsync(signatureKey, cancellationToken).ConfigureAwait(false);
        if (signature is null)
        {
            problems.Add($"{what}: not signed ({store.Describe(signatureKey)} is missing)");
            return null;
        }

        var jws = Encoding.ASCII.GetString(signature);
        var kid = DetachedJws.ReadKeyId(jws, out var unreadable);
        if (kid is null)
        {
            problems.Add($"{what}: the signature {store.Describe(signatureKey)} is unusable: {unreadable}");
            return null;
        }

        var key = anchors.FirstOrDefault(a => a.Kid == kid) ?? chain.GetValueOrDefault(kid);
        if (key is null)
        {
            problems.Add($"{what}: signed by key {kid}, which is neither a given public key nor the next key announced by the previous signed manifest");
            return null;
        }

        using var ecdsa = key.ToPublicKey();
        if (!DetachedJws.Verify(jws, payload, ecdsa))
        {
            problems.Add($"{what}: the signature by key {kid} does not match its content (changed after signing, or a forged signature)");
            return null;
        }

        if (await store.GetBytesAsync(FileNaming.PublicKeyKey(register, kid), cancellationToken).ConfigureAwait(false) is null)
        {
            problems.Add($"{what}: signed by key {kid}, but {store.Describe(FileNaming.PublicKeyKey(register, kid))} is not published");
        }

        return key;
    }
}

/// <param name="Signed">Objects with a valid signature by a trusted key.</param>
internal sealed record SignatureReport(int Signed, IReadOnlyList<string> Problems)
{
    public bool Ok => Problems.Count == 0;
}
