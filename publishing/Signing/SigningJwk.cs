using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using BulkExport.Publishing.Layout;

namespace BulkExport.Publishing.Signing;

/// <summary>
/// A public signing key as a JSON Web Key (RFC 7517): an EC P-256 key for ES256. Its key id is the
/// RFC 7638 thumbprint, so anyone holding the key can recompute the id and nobody has to trust it.
/// </summary>
internal sealed class SigningJwk
{
    public const string KeyType = "EC";
    public const string Curve = "P-256";
    public const string Algorithm = "ES256";

    [JsonPropertyName("kty")] public string Kty { get; set; } = KeyType;
    [JsonPropertyName("crv")] public string Crv { get; set; } = Curve;
    [JsonPropertyName("x")] public string X { get; set; } = "";
    [JsonPropertyName("y")] public string Y { get; set; } = "";
    [JsonPropertyName("kid")] public string Kid { get; set; } = "";
    [JsonPropertyName("alg")] public string Alg { get; set; } = Algorithm;
    [JsonPropertyName("use")] public string Use { get; set; } = "sig";

    private static readonly JsonTypeInfo<SigningJwk> TypeInfo = PublishingJsonContext.For<SigningJwk>(new() { WriteIndented = true });

    public static SigningJwk FromKey(ECDsa key)
    {
        var p = key.ExportParameters(includePrivateParameters: false);
        if (p.Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
        {
            throw new CryptographicException($"the key is on curve {p.Curve.Oid.FriendlyName ?? p.Curve.Oid.Value}; ES256 needs P-256 (prime256v1)");
        }

        var jwk = new SigningJwk { X = Base64Url.EncodeToString(p.Q.X), Y = Base64Url.EncodeToString(p.Q.Y) };
        jwk.Kid = jwk.Thumbprint();
        return jwk;
    }

    /// <summary>RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace, base64url.</summary>
    public string Thumbprint()
    {
        var canonical = $"{{\"crv\":\"{Crv}\",\"kty\":\"{Kty}\",\"x\":\"{X}\",\"y\":\"{Y}\"}}";
        return Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    public ECDsa ToPublicKey()
    {
        if (Kty != KeyType || Crv != Curve)
        {
            throw new CryptographicException($"key {Kid}: kty {Kty}, crv {Crv} is not an EC P-256 key");
        }

        return ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = Base64Url.DecodeFromChars(X), Y = Base64Url.DecodeFromChars(Y) },
        });
    }

    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, TypeInfo);

    /// <summary>
    /// Reads a public key for verification: a PEM file (SubjectPublicKeyInfo, or a private key whose
    /// public half is used) or a JWK. The key id is always recomputed, never taken from the file.
    /// </summary>
    public static SigningJwk Parse(string text, string where)
    {
        try
        {
            if (text.TrimStart().StartsWith('{'))
            {
                var jwk = JsonSerializer.Deserialize(text, PublishingJsonContext.Default.SigningJwk) ?? throw new CryptographicException("empty JWK");
                using var key = jwk.ToPublicKey();
                return FromKey(key);
            }

            using var ecdsa = ECDsa.Create();
            ecdsa.ImportFromPem(text);
            return FromKey(ecdsa);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or JsonException or FormatException)
        {
            throw new SigningKeyException($"{where}: not an EC P-256 public key (PEM or JWK): {e.Message}", e);
        }
    }
}

/// <summary>A signing or verification key that cannot be used; names the file or setting it came from.</summary>
internal sealed class SigningKeyException(string message, Exception? inner = null) : Exception(message, inner);
