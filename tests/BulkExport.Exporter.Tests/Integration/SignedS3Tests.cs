using BulkExport.Api;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using BulkExport.Exporter.Tests.Fixtures;
using BulkExport.Exporter.Tests.Publishing.Signing;
using BulkExport.Exporter.Tests.Support;
using BulkExport.Publishing.Signing;
using BulkExport.Publishing.Stores.S3;
using BulkExport.Publishing.Verification;
using BulkExport.Tests.Shared;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Integration;

/// <summary>Signed runs published to s3rver verify with the public key, read back over S3.</summary>
public sealed class SignedS3Tests(S3rverFixture s3) : IClassFixture<S3rverFixture>
{
    private static readonly Column[] Columns = [new("nr", ColumnKind.Integer), new("navn", ColumnKind.Text)];

    [Fact]
    public async Task SignedTotalAndDelta_OnS3_VerifyWithThePublicKey_AndAnnounceTheNextKey()
    {
        var prefix = "signed-" + Guid.NewGuid().ToString("N")[..8] + "/";
        var pem = SignedPublicationTests.NewKeyPem();
        var next = SignedPublicationTests.NewKeyPem();
        using var h = new ExportHarness(s => s.Entities = [new EntitySpec { Name = "Postnummer", Key = ["nr"] }]);
        h.Source.Set("Postnummer", Columns, Enumerable.Range(0, 100).Select(i => new object?[] { (long)i, $"p{i}" }));
        h.Signer = PublicationSigner.FromPem(pem, "key", SignedPublicationTests.PublicPem(next), "next");
        var store = new S3ObjectStore(
            new S3StorageSpec { Bucket = S3rverFixture.Bucket, Prefix = prefix, Endpoint = s3.Endpoint, ForcePathStyle = true, Region = "us-east-1", Compatibility = S3Compatibility.Legacy },
            S3rverFixture.Credentials);
        Directory.CreateDirectory(Path.Combine(h.Root, "tmp"));

        await h.Runner(store: store).RunAsync(RunKind.Total, CancellationToken.None);
        h.Source.Rows("Postnummer")[5][1] = "changed";
        h.Time.Advance(TimeSpan.FromHours(1));
        await h.Runner(store: store).RunAsync(RunKind.Delta, CancellationToken.None);

        var report = await new SignatureVerifier(store, "DAR").VerifyAsync([SigningJwk.Parse(SignedPublicationTests.PublicPem(pem), "key")], CancellationToken.None);
        Assert.True(report.Ok, string.Join("; ", report.Problems));
        Assert.Equal(3, report.Signed);
        var wrong = await new SignatureVerifier(store, "DAR").VerifyAsync([SigningJwk.Parse(SignedPublicationTests.PublicPem(next), "next")], CancellationToken.None);
        Assert.Equal(3, wrong.Problems.Count);
    }
}
