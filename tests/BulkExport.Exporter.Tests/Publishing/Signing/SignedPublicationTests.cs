using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Signing;
using BulkExport.Publishing.Stores;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Publishing.Signing;

/// <summary>Signed manifests and catalog on the filesystem store, checked the way a consumer would.</summary>
public sealed class SignedPublicationTests
{
    private static readonly Column[] Columns = [new("nr", ColumnKind.Integer), new("navn", ColumnKind.Text)];

    internal static string NewKeyPem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportPkcs8PrivateKeyPem();
    }

    internal static string PublicPem(string privatePem)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(privatePem);
        return key.ExportSubjectPublicKeyInfoPem();
    }

    private static SigningJwk Public(string privatePem) => SigningJwk.Parse(PublicPem(privatePem), "test key");

    private static ExportHarness Harness(string keyPem, string? nextPublicPem = null)
    {
        var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }]);
        h.Source.Set("Postnummer", Columns, Enumerable.Range(0, 20).Select(i => new object?[] { (long)i, $"p{i}" }));
        h.Signer = PublicationSigner.FromPem(keyPem, "test key", nextPublicPem, "next test key");
        return h;
    }

    private static Task<SignatureReport> VerifySignaturesAsync(ExportHarness h, params SigningJwk[] trusted) =>
        new SignatureVerifier(h.Store, h.Register).VerifyAsync(trusted, CancellationToken.None);

    [Fact]
    public void DetachedJws_IsACompactJwsOnceThePayloadIsPutBack_AndNamesTheKeyInTheProtectedHeader()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var payload = "{\"generation\":7}"u8.ToArray();

        var jws = DetachedJws.Sign(payload, key, "kid-1");

        var parts = jws.Split('.');
        Assert.Equal(3, parts.Length);
        Assert.Empty(parts[1]);
        var header = JsonNode.Parse(Base64Url.DecodeFromChars(parts[0]))!;
        Assert.Equal("ES256", (string?)header["alg"]);
        Assert.Equal("kid-1", (string?)header["kid"]);
        // RFC 7515 Appendix F: with the payload re-inserted it verifies as an ordinary JWS.
        var signingInput = Encoding.ASCII.GetBytes($"{parts[0]}.{Base64Url.EncodeToString(payload)}");
        Assert.True(key.VerifyData(signingInput, Base64Url.DecodeFromChars(parts[2]), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
        Assert.True(DetachedJws.Verify(jws, payload, key));
        Assert.False(DetachedJws.Verify(jws, "{\"generation\":8}"u8, key));
    }

    [Fact]
    public void KeyId_IsTheRfc7638Thumbprint_RecomputedFromTheKey_NotTakenFromTheFile()
    {
        var pem = NewKeyPem();
        var fromPem = Public(pem);
        var jwk = JsonNode.Parse(fromPem.ToBytes())!.AsObject();
        jwk["kid"] = "forged";

        var fromJwk = SigningJwk.Parse(jwk.ToJsonString(), "jwk file");

        Assert.Equal(fromPem.Kid, fromJwk.Kid);
        var canonical = $"{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{fromPem.X}\",\"y\":\"{fromPem.Y}\"}}";
        Assert.Equal(Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical))), fromPem.Kid);
        Assert.Equal(43, fromPem.Kid.Length);
    }

    [Fact]
    public void NotAPrivateKey_IsRefused_NamingWhereItCameFrom()
    {
        var e = Assert.Throws<SigningKeyException>(() => PublicationSigner.FromPem(PublicPem(NewKeyPem()), "spec.signing.keyFile (k.pem)", null, null));
        Assert.Contains("spec.signing.keyFile (k.pem)", e.Message, StringComparison.Ordinal);

        using var rsa = RSA.Create(2048);
        e = Assert.Throws<SigningKeyException>(() => PublicationSigner.FromPem(rsa.ExportPkcs8PrivateKeyPem(), "spec.signing.keyFile (rsa.pem)", null, null));
        Assert.Contains("rsa.pem", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignedRuns_SignEveryManifestAndTheCatalog_AndPublishTheKey()
    {
        var pem = NewKeyPem();
        using var h = Harness(pem);

        await h.RunAsync(RunKind.Total);
        h.Source.Rows("Postnummer")[0][1] = "changed";
        await h.RunAsync(RunKind.Delta);

        var report = await VerifySignaturesAsync(h, Public(pem));
        Assert.True(report.Ok, string.Join("; ", report.Problems));
        Assert.Equal(3, report.Signed);
        var kid = Public(pem).Kid;
        Assert.NotNull(await h.Store.GetBytesAsync(FileNaming.PublicKeyKey("DAR", kid), CancellationToken.None));
        Assert.True(await new SignatureVerifier(h.Store, h.Register).AnySignaturesAsync(CancellationToken.None));
        Assert.True((await h.VerifyAsync()).Ok);
    }

    [Fact]
    public async Task ATamperedManifest_AMissingSignature_AndAnUntrustedKey_AreEachReportedByObject()
    {
        var pem = NewKeyPem();
        using var h = Harness(pem);
        await h.RunAsync(RunKind.Total);
        await h.RunAsync(RunKind.Delta);

        var manifest1 = Path.Combine(h.Root, "store", "DAR", "generations", "0000000001.json");
        await File.WriteAllTextAsync(manifest1, (await File.ReadAllTextAsync(manifest1)).Replace("\"records\": 20", "\"records\": 21", StringComparison.Ordinal));
        File.Delete(Path.Combine(h.Root, "store", "DAR", "generations", "0000000002.json.jws"));

        var report = await VerifySignaturesAsync(h, Public(pem));

        Assert.Contains(report.Problems, p => p.Contains("0000000001.json: the signature by key", StringComparison.Ordinal) && p.Contains("does not match", StringComparison.Ordinal));
        Assert.Contains(report.Problems, p => p.Contains("0000000002.json: not signed", StringComparison.Ordinal));
        var other = await VerifySignaturesAsync(h, Public(NewKeyPem()));
        Assert.Contains(other.Problems, p => p.Contains("catalog.json: signed by key", StringComparison.Ordinal) && p.Contains("neither a given public key", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AnUnsignedRegister_HasNoSignatures_AndVerifyingItWithAKeyFailsOnEveryObject()
    {
        using var h = Harness(NewKeyPem());
        h.Signer = null;
        await h.RunAsync(RunKind.Total);

        Assert.False(await new SignatureVerifier(h.Store, h.Register).AnySignaturesAsync(CancellationToken.None));
        var report = await VerifySignaturesAsync(h, Public(NewKeyPem()));
        Assert.Equal(2, report.Problems.Count);
        Assert.All(report.Problems, p => Assert.Contains("not signed", p, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ARegisterThatStartsSigning_SignsItsEarlierManifestsOnTheNextRun()
    {
        var pem = NewKeyPem();
        using var h = Harness(pem);
        var signer = h.Signer;
        h.Signer = null;
        await h.RunAsync(RunKind.Total);
        await h.RunAsync(RunKind.Delta);
        Assert.False((await VerifySignaturesAsync(h, Public(pem))).Ok);

        h.Signer = signer;
        await h.RunAsync(RunKind.Delta);

        var report = await VerifySignaturesAsync(h, Public(pem));
        Assert.True(report.Ok, string.Join("; ", report.Problems));
        Assert.Equal(4, report.Signed);
    }

    [Fact]
    public async Task Rotation_TheOldKeyAnnouncesTheNext_SoAConsumerTrustingOnlyTheOldKeyAcceptsTheNewOne()
    {
        var oldKey = NewKeyPem();
        var newKey = NewKeyPem();
        using var h = Harness(oldKey);
        await h.RunAsync(RunKind.Total);

        // Step 1: announce the next key while the old one still signs.
        h.Signer = PublicationSigner.FromPem(oldKey, "old", PublicPem(newKey), "next");
        await h.RunAsync(RunKind.Delta);
        var announced = (await h.CatalogAsync()).NextSigningKey;
        Assert.Equal(Public(newKey).Kid, announced?.Kid);
        Assert.NotNull(await h.Store.GetBytesAsync(FileNaming.PublicKeyKey("DAR", Public(newKey).Kid), CancellationToken.None));

        // Step 2: switch.
        h.Signer = PublicationSigner.FromPem(newKey, "new", null, null);
        await h.RunAsync(RunKind.Delta);

        var report = await VerifySignaturesAsync(h, Public(oldKey));
        Assert.True(report.Ok, string.Join("; ", report.Problems));
        Assert.Equal(4, report.Signed);

        // A key nobody announced is refused, even right after a rotation.
        h.Signer = PublicationSigner.FromPem(NewKeyPem(), "rogue", null, null);
        await h.RunAsync(RunKind.Delta);
        var rogue = await VerifySignaturesAsync(h, Public(oldKey));
        Assert.Contains(rogue.Problems, p => p.Contains("0000000004.json: signed by key", StringComparison.Ordinal));

        // Once the new key has signed, the retired key no longer counts for later objects.
        h.Signer = PublicationSigner.FromPem(oldKey, "old again", null, null);
        await h.RunAsync(RunKind.Delta);
        var retired = await VerifySignaturesAsync(h, Public(newKey));
        Assert.Contains(retired.Problems, p => p.Contains("0000000005.json: signed by key", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ADeathAtTheCommitPoint_LeavesOnlyAnUnusedSignature_AndRetentionRemovesItAfterTheGracePeriod()
    {
        var pem = NewKeyPem();
        using var h = Harness(pem);
        await h.RunAsync(RunKind.Total);
        Directory.CreateDirectory(Path.Combine(h.Root, "tmp"));

        await Assert.ThrowsAsync<StoreException>(() => h.Runner(store: new CommitPointFailingStore(h.Store)).RunAsync(RunKind.Delta, CancellationToken.None));

        Assert.NotNull(await h.Store.GetBytesAsync(FileNaming.ManifestSignatureKey("DAR", 2), CancellationToken.None));
        Assert.True((await VerifySignaturesAsync(h, Public(pem))).Ok);
        h.Time.Advance(TimeSpan.FromHours(1));
        var next = await h.RunAsync(RunKind.Delta);
        Assert.Equal(3, next.Generation);
        Assert.NotNull(await h.Store.GetBytesAsync(FileNaming.ManifestSignatureKey("DAR", 2), CancellationToken.None));

        // Generation 2 never committed; its signature goes once older than the grace period (24h).
        // The filesystem store's times are the files' own, so the test ages the file by hand.
        File.SetLastWriteTimeUtc(Path.Combine(h.Store.Root, "DAR", "generations", "0000000002.json.jws"), h.Time.GetUtcNow().UtcDateTime.AddHours(-25));
        await h.RunAsync(RunKind.Delta);
        Assert.Null(await h.Store.GetBytesAsync(FileNaming.ManifestSignatureKey("DAR", 2), CancellationToken.None));
        var report = await VerifySignaturesAsync(h, Public(pem));
        Assert.True(report.Ok, string.Join("; ", report.Problems));
        Assert.NotNull(await h.Store.GetBytesAsync(FileNaming.PublicKeyKey("DAR", Public(pem).Kid), CancellationToken.None));
    }

    [Fact]
    public async Task OldCatalogSignatures_GoAfterTheGracePeriod_TheCurrentOneAndTheKeysStay()
    {
        var pem = NewKeyPem();
        using var h = Harness(pem);
        for (var i = 0; i < 3; i++)
        {
            await h.RunAsync(i == 0 ? RunKind.Total : RunKind.Delta);
        }

        var folder = Path.Combine(h.Store.Root, "DAR", "signatures");
        Assert.Equal(3, Directory.GetFiles(folder).Length);
        foreach (var file in Directory.GetFiles(folder))
        {
            File.SetLastWriteTimeUtc(file, h.Time.GetUtcNow().UtcDateTime.AddHours(-25));
        }

        await h.RunAsync(RunKind.Delta);

        var signatures = Directory.GetFiles(folder);
        // The catalog just written and the one it replaced (a reader may hold it); older ones are gone.
        Assert.Equal(2, signatures.Length);
        Assert.True((await VerifySignaturesAsync(h, Public(pem))).Ok);
        Assert.Single(Directory.GetFiles(Path.Combine(h.Root, "store", "DAR", "keys")));
    }
}

/// <summary>The filesystem store, except that the commit link cannot be created: the run dies at its commit point.</summary>
internal sealed class CommitPointFailingStore(IObjectStore inner) : IObjectStore
{
    public string Describe(string key) => inner.Describe(key);

    public Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
        key.EndsWith(".next", StringComparison.Ordinal)
            ? throw new StoreException($"{key}: simulated death at the commit point", transient: true)
            : inner.TryCreateAsync(key, content, cancellationToken);

    public Task PutBytesAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken) => inner.PutBytesAsync(key, content, contentType, cancellationToken);

    public Task PutFileAsync(string key, string localPath, string sha256Hex, string contentType, CancellationToken cancellationToken) => inner.PutFileAsync(key, localPath, sha256Hex, contentType, cancellationToken);

    public Task<byte[]?> GetBytesAsync(string key, CancellationToken cancellationToken) => inner.GetBytesAsync(key, cancellationToken);

    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken) => inner.OpenReadAsync(key, cancellationToken);

    public Task<ObjectRead> ReadAsync(string key, ReadConditions conditions, CancellationToken cancellationToken) => inner.ReadAsync(key, conditions, cancellationToken);

    public Uri? PresignGet(string key, TimeSpan lifetime, string? downloadName) => inner.PresignGet(key, lifetime, downloadName);

    public IAsyncEnumerable<StoredObject> ListAsync(string prefix, CancellationToken cancellationToken) => inner.ListAsync(prefix, cancellationToken);

    public Task CopyAsync(string sourceKey, string targetKey, CancellationToken cancellationToken) => inner.CopyAsync(sourceKey, targetKey, cancellationToken);

    public Task DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) => inner.DeleteAsync(keys, cancellationToken);
}
