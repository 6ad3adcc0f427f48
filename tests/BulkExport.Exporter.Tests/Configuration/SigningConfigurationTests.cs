using BulkExport.Api;
using BulkExport.Exporter;
using BulkExport.Exporter.Cli;
using BulkExport.Exporter.Tests.Publishing.Signing;
using BulkExport.Publishing.Signing;

namespace BulkExport.Exporter.Tests.Configuration;

/// <summary><c>spec.signing</c>: validated with field names; the key comes from a file or, in a cluster, the Secret's env.</summary>
public sealed class SigningConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("signing-config-").FullName;

    private static ExportSchedule Load(string signing) =>
        ScheduleDocument.LoadYaml(ScheduleDocumentTests.Valid + "\n  signing: " + signing + "\n");

    [Theory]
    [InlineData("{}", "spec.signing", "exactly one of keyFile")]
    [InlineData("{keyFile: k.pem, secretRef: {name: sig}}", "spec.signing", "found both")]
    [InlineData("{secretRef: {name: Sig_Key}}", "spec.signing.secretRef.name", "does not match")]
    [InlineData("{secretRef: {}}", "spec.signing.secretRef.name", "required")]
    [InlineData("{secretRef: {name: sig}, nextPublicKeyFile: n.pem}", "spec.signing.nextPublicKeyFile", "nextPublicKeyKey")]
    [InlineData("{secretRef: {name: sig, key: a.pem, nextPublicKeyKey: a.pem}}", "spec.signing.secretRef.nextPublicKeyKey", "own entry")]
    [InlineData("{keyFile: k.pem, nextKey: n.pem}", "spec.signing.nextKey", "unknown field")]
    [InlineData("{keyFile: ''}", "spec.signing.keyFile", "must not be empty")]
    public void Mistake_IsReportedWithFieldPathAndRule(string signing, string path, string message)
    {
        var e = Assert.Throws<ScheduleValidationException>(() => Load(signing));

        Assert.Contains(e.Errors, error => error.Path == path && error.Message.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void KeyFile_AndNextPublicKeyFile_AreRead_AndTheNextKeyIsAnnounced()
    {
        var key = Path.Combine(_dir, "key.pem");
        var next = Path.Combine(_dir, "next.pem");
        File.WriteAllText(key, SignedPublicationTests.NewKeyPem());
        File.WriteAllText(next, SignedPublicationTests.PublicPem(SignedPublicationTests.NewKeyPem()));

        using var signer = SignerFactory.Create(Load($"{{keyFile: {key}, nextPublicKeyFile: {next}}}").Spec.Signing, _ => null)!;

        Assert.NotNull(signer.Next);
        Assert.NotEqual(signer.Current.Kid, signer.Next!.Kid);
    }

    [Fact]
    public void NoSigning_MeansNoSigner() => Assert.Null(SignerFactory.Create(ScheduleDocument.LoadYaml(ScheduleDocumentTests.Valid).Spec.Signing));

    [Fact]
    public void MissingKeyFile_IsABadConfiguration_NamingTheSetting()
    {
        var spec = Load($"{{keyFile: {_dir}/absent.pem}}").Spec.Signing;

        var e = Assert.Throws<SigningKeyException>(() => SignerFactory.Create(spec, _ => null));

        Assert.StartsWith("spec.signing.keyFile: cannot read", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, ExporterCommandLine.Classify(e));
    }

    [Fact]
    public void SecretRef_TakesTheKeyFromTheEnvironmentOrAMountedFile_AndSaysWhichVariablesWhenNeitherIsSet()
    {
        var spec = Load("{secretRef: {name: dar-signing, nextPublicKeyKey: next.pem}}").Spec.Signing;
        var pem = SignedPublicationTests.NewKeyPem();
        var nextFile = Path.Combine(_dir, "next.pem");
        File.WriteAllText(nextFile, SignedPublicationTests.PublicPem(SignedPublicationTests.NewKeyPem()));
        var env = new Dictionary<string, string>
        {
            [ExporterEnvironment.SigningKey] = pem,
            [ExporterEnvironment.SigningNextPublicKeyFile] = nextFile,
        };

        using (var signer = SignerFactory.Create(spec, name => env.GetValueOrDefault(name))!)
        {
            Assert.NotNull(signer.Next);
        }

        var e = Assert.Throws<SigningKeyException>(() => SignerFactory.Create(spec, _ => null));
        Assert.Contains("spec.signing.secretRef", e.Message, StringComparison.Ordinal);
        Assert.Contains(ExporterEnvironment.SigningKey, e.Message, StringComparison.Ordinal);
        Assert.Contains(ExporterEnvironment.SigningKeyFile, e.Message, StringComparison.Ordinal);
        Assert.Contains("dar-signing", e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
