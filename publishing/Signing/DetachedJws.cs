using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BulkExport.Publishing.Layout;

namespace BulkExport.Publishing.Signing;

/// <summary>
/// JWS compact serialization with a detached payload (RFC 7515 §7.2.8 and Appendix F):
/// <c>BASE64URL(header) + ".." + BASE64URL(signature)</c>, where the signature is ES256 over
/// <c>BASE64URL(header) + "." + BASE64URL(payload)</c> and the payload is the signed object's exact
/// bytes. Plain detached form, not RFC 7797's unencoded payload, because every JOSE library verifies
/// it: re-insert the payload's base64url between the dots and verify as a normal JWS.
/// </summary>
internal static class DetachedJws
{
    public static string Sign(ReadOnlySpan<byte> payload, ECDsa key, string kid)
    {
        var header = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["alg"] = SigningJwk.Algorithm, ["kid"] = kid }, PublishingJsonContext.Default.DictionaryStringString));
        var signature = key.SignData(SigningInput(header, payload), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return $"{header}..{Base64Url.EncodeToString(signature)}";
    }

    /// <summary>The key id the signature claims, or null with the reason when the text is not a detached ES256 JWS.</summary>
    public static string? ReadKeyId(string jws, out string? problem)
    {
        problem = null;
        var parts = jws.Trim().Split('.');
        if (parts.Length != 3 || parts[1].Length != 0)
        {
            problem = "not a detached JWS (expected header..signature)";
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[0]));
            var alg = doc.RootElement.TryGetProperty("alg", out var a) ? a.GetString() : null;
            if (alg != SigningJwk.Algorithm)
            {
                problem = $"algorithm {alg ?? "(none)"} is not {SigningJwk.Algorithm}";
                return null;
            }

            if (doc.RootElement.TryGetProperty("crit", out _))
            {
                problem = "the header has critical extensions this verifier does not implement";
                return null;
            }

            var kid = doc.RootElement.TryGetProperty("kid", out var k) ? k.GetString() : null;
            if (string.IsNullOrEmpty(kid))
            {
                problem = "the protected header has no kid";
                return null;
            }

            return kid;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            problem = $"unreadable protected header: {e.Message}";
            return null;
        }
    }

    /// <summary>True when <paramref name="jws"/> is a valid ES256 signature of <paramref name="payload"/> by <paramref name="key"/>.</summary>
    public static bool Verify(string jws, ReadOnlySpan<byte> payload, ECDsa key)
    {
        var parts = jws.Trim().Split('.');
        if (parts.Length != 3 || parts[1].Length != 0)
        {
            return false;
        }

        byte[] signature;
        try
        {
            signature = Base64Url.DecodeFromChars(parts[2]);
        }
        catch (FormatException)
        {
            return false;
        }

        return key.VerifyData(SigningInput(parts[0], payload), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    private static byte[] SigningInput(string encodedHeader, ReadOnlySpan<byte> payload) =>
        Encoding.ASCII.GetBytes($"{encodedHeader}.{Base64Url.EncodeToString(payload)}");
}
