using System.Security.Cryptography;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Signing;

/// <summary>
/// Signs what a run publishes (each generation manifest and the catalog) with one EC P-256 key, and
/// publishes the public keys under <c>{REG}/keys/{kid}.jwk</c>. <see cref="Next"/> is the key that
/// will sign after a rotation: announced in every manifest and catalog while this key still signs,
/// so a consumer that trusts this key learns the next one from signed data (as NRTMv4's
/// <c>next_signing_key</c>).
/// </summary>
internal sealed class PublicationSigner : IDisposable
{
    private readonly ECDsa _key;

    private PublicationSigner(ECDsa key, SigningJwk current, SigningJwk? next)
    {
        _key = key;
        Current = current;
        Next = next;
    }

    public SigningJwk Current { get; }

    public SigningJwk? Next { get; }

    /// <param name="privateKeyPem">PKCS#8 or SEC1 PEM of an EC P-256 private key.</param>
    /// <param name="where">Where the key came from (setting and file), for messages.</param>
    public static PublicationSigner FromPem(string privateKeyPem, string where, string? nextPublicKey, string? nextWhere)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(privateKeyPem);
            // A PEM holding only a public key imports fine; signing would fail at the first commit.
            key.ExportParameters(includePrivateParameters: true);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            key.Dispose();
            throw new SigningKeyException($"{where}: not an EC P-256 private key in PEM form (openssl ecparam -name prime256v1 -genkey | openssl pkcs8 -topk8 -nocrypt): {e.Message}", e);
        }

        try
        {
            var current = SigningJwk.FromKey(key);
            var next = nextPublicKey is null ? null : SigningJwk.Parse(nextPublicKey, nextWhere ?? "next public key");
            if (next is not null && next.Kid == current.Kid)
            {
                throw new SigningKeyException($"{nextWhere}: the next public key is the current signing key ({current.Kid}); name the key that will replace it");
            }

            return new PublicationSigner(key, current, next);
        }
        catch (CryptographicException e)
        {
            key.Dispose();
            throw new SigningKeyException($"{where}: {e.Message}", e);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    public string Sign(ReadOnlySpan<byte> payload) => DetachedJws.Sign(payload, _key, Current.Kid);

    /// <summary>
    /// Publishes the current and next public keys before anything signed with (or naming) them
    /// appears. Key files are immutable: the name is the key's thumbprint.
    /// </summary>
    public async Task PublishKeysAsync(IObjectStore store, string register, CancellationToken cancellationToken)
    {
        foreach (var jwk in Next is null ? [Current] : new[] { Current, Next })
        {
            await store.TryCreateAsync(FileNaming.PublicKeyKey(register, jwk.Kid), jwk.ToBytes(), cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _key.Dispose();
}
