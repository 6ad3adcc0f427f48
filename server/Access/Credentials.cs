using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BulkExport.Api;
using BulkExport.Server.Configuration;

namespace BulkExport.Server.Access;

internal enum AuthMethod
{
    None,
    ApiKey,
    Basic,
}

/// <summary>Who is asking. <see cref="Id"/> is what access logs and the rate limiter name: never a secret.</summary>
internal sealed record Caller(string Id, AuthMethod Method, Grants Grants)
{
    public static readonly Caller Anonymous = new("anonymous", AuthMethod.None, Grants.Nothing);

    public bool IsAnonymous => Method == AuthMethod.None;
}

/// <summary>The registers a credential opens: a list, or <c>"*"</c> for all.</summary>
internal sealed record Grants(bool All, IReadOnlySet<string> Registers)
{
    public static readonly Grants Nothing = new(false, new HashSet<string>());

    public bool Includes(string register) => All || Registers.Contains(register);
}

/// <summary>
/// The credentials file: API keys as SHA-256 (they are long random strings, so a fast hash is enough)
/// and service users' passwords as PBKDF2 (people choose them, so a slow salted hash). No secret is
/// ever held in clear.
/// <code>
/// apiKeys:
///   - {id: mirror-a, sha256: 64 hex digits, registers: [DAR]}
/// users:
///   - {name: svc-dar, password: "pbkdf2-sha256$600000$salt-base64$hash-base64", registers: ["*"]}
/// </code>
/// </summary>
internal sealed class CredentialSet
{
    public static readonly CredentialSet Empty = new([], new Dictionary<string, UserEntry>(StringComparer.Ordinal));

    private CredentialSet(IReadOnlyList<ApiKeyEntry> keys, IReadOnlyDictionary<string, UserEntry> users)
    {
        Keys = keys;
        Users = users;
        // Unknown user names still cost one PBKDF2 run, so timing does not tell names apart.
        Dummy = users.Values.FirstOrDefault()?.Password ?? PasswordHash.Create("", 1000);
    }

    public IReadOnlyList<ApiKeyEntry> Keys { get; }

    public IReadOnlyDictionary<string, UserEntry> Users { get; }

    public PasswordHash Dummy { get; }

    public static CredentialSet Parse(string yaml, string source)
    {
        var root = Yaml.ParseSingle(yaml, source);
        var errors = new List<ValidationError>();
        Yaml.RejectUnknown(root, "", errors, "apiKeys", "users");
        var keys = new List<ApiKeyEntry>();
        var users = new Dictionary<string, UserEntry>(StringComparer.Ordinal);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (item, path) in Items(root, "apiKeys", errors))
        {
            Yaml.RejectUnknown(item, path + ".", errors, "id", "sha256", "registers");
            var id = Yaml.String(item, "id", errors, path + ".");
            var hex = Yaml.String(item, "sha256", errors, path + ".");
            var grants = BindGrants(item, path, errors);
            if (id is null)
            {
                errors.Add(new(path + ".id", "required"));
            }
            else if (!ids.Add(id))
            {
                errors.Add(new(path + ".id", $"'{id}' is used twice"));
            }

            byte[]? hash = null;
            if (hex is null || hex.Length != 64 || !TryHex(hex, out hash))
            {
                errors.Add(new(path + ".sha256", "required: the key's SHA-256 as 64 hex digits (server hash-key prints it)"));
            }

            if (id is not null && hash is not null && grants is not null)
            {
                keys.Add(new ApiKeyEntry(id, hash, grants));
            }
        }

        foreach (var (item, path) in Items(root, "users", errors))
        {
            Yaml.RejectUnknown(item, path + ".", errors, "name", "password", "registers");
            var name = Yaml.String(item, "name", errors, path + ".");
            var password = Yaml.String(item, "password", errors, path + ".");
            var grants = BindGrants(item, path, errors);
            if (name is null || name.Contains(':', StringComparison.Ordinal))
            {
                errors.Add(new(path + ".name", "required, without ':' (HTTP Basic separates name and password by it)"));
            }
            else if (users.ContainsKey(name))
            {
                errors.Add(new(path + ".name", $"'{name}' is used twice"));
            }

            if (!PasswordHash.TryParse(password, out var hash))
            {
                errors.Add(new(path + ".password", $"required: {PasswordHash.FormatDescription} (server hash-password prints it)"));
            }

            if (name is not null && hash is not null && grants is not null && !users.ContainsKey(name))
            {
                users[name] = new UserEntry(name, hash, grants);
            }
        }

        return errors.Count > 0 ? throw new ConfigurationException(source, errors) : new CredentialSet(keys, users);
    }

    private static IEnumerable<(JsonObject Item, string Path)> Items(JsonObject root, string name, List<ValidationError> errors)
    {
        if (root[name] is null)
        {
            yield break;
        }

        if (root[name] is not JsonArray list)
        {
            errors.Add(new(name, "must be a list"));
            yield break;
        }

        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] is JsonObject o)
            {
                yield return (o, $"{name}[{i}]");
            }
            else
            {
                errors.Add(new($"{name}[{i}]", "must be a mapping"));
            }
        }
    }

    private static Grants? BindGrants(JsonObject item, string path, List<ValidationError> errors)
    {
        if (item["registers"] is not JsonArray list || list.Count == 0 || list.Any(r => r?.GetValueKind() != JsonValueKind.String))
        {
            errors.Add(new(path + ".registers", "required: a non-empty list of register codes, or [\"*\"] for all"));
            return null;
        }

        var names = list.Select(r => (string)r!).ToHashSet(StringComparer.Ordinal);
        return names.Contains("*") ? new Grants(true, names) : new Grants(false, names);
    }

    private static bool TryHex(string hex, out byte[]? bytes)
    {
        try
        {
            bytes = Convert.FromHexString(hex);
            return true;
        }
        catch (FormatException)
        {
            bytes = null;
            return false;
        }
    }
}

internal sealed record ApiKeyEntry(string Id, byte[] Sha256, Grants Grants);

internal sealed record UserEntry(string Name, PasswordHash Password, Grants Grants);

/// <summary><c>pbkdf2-sha256$iterations$salt$hash</c> (salt and hash base64).</summary>
internal sealed record PasswordHash(int Iterations, byte[] Salt, byte[] Hash)
{
    public const string FormatDescription = "pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>";
    public const int DefaultIterations = 600_000;
    private const string Prefix = "pbkdf2-sha256";

    public static PasswordHash Create(string password, int iterations = DefaultIterations)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        return new PasswordHash(iterations, salt, Derive(password, salt, iterations, 32));
    }

    public static bool TryParse(string? text, out PasswordHash? hash)
    {
        hash = null;
        var parts = text?.Split('$');
        if (parts is not [Prefix, var iterationText, var saltText, var hashText]
            || !int.TryParse(iterationText, NumberStyles.None, CultureInfo.InvariantCulture, out var iterations) || iterations < 1000)
        {
            return false;
        }

        try
        {
            var salt = Convert.FromBase64String(saltText);
            var value = Convert.FromBase64String(hashText);
            if (salt.Length < 8 || value.Length < 16)
            {
                return false;
            }

            hash = new PasswordHash(iterations, salt, value);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    public bool Verify(string password) => CryptographicOperations.FixedTimeEquals(Derive(password, Salt, Iterations, Hash.Length), Hash);

    public override string ToString() => $"{Prefix}${Iterations.ToString(CultureInfo.InvariantCulture)}${Convert.ToBase64String(Salt)}${Convert.ToBase64String(Hash)}";

    private static byte[] Derive(string password, byte[] salt, int iterations, int length) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, length);
}

/// <summary>
/// Checks the Authorization header against the current credentials: <c>Basic base64(name:password)</c>
/// for service users (as Datafordeleren), anything else is the API key itself (as dm+d). The file is
/// re-read when its content changes, so keys rotate without a restart.
/// </summary>
internal sealed class CredentialStore(string? path)
{
    private const int VerifiedCacheLimit = 1024;

    // PBKDF2 costs ~0.2 s of CPU by design; a mirror sending the same password on every request pays it once.
    private readonly ConcurrentDictionary<string, UserEntry> _verified = new(StringComparer.Ordinal);
    private volatile CredentialSet _current = CredentialSet.Empty;
    private byte[] _fileHash = [];

    public string? Path { get; } = path;

    public CredentialSet Current => _current;

    /// <summary>Re-reads the file; true when it changed. Throws <see cref="ConfigurationException"/> for a bad file (the old set stays).</summary>
    public bool Reload()
    {
        if (Path is null)
        {
            return false;
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException(Path, [new ValidationError("credentialsFile", $"cannot read '{Path}': {e.Message}")]);
        }

        var hash = SHA256.HashData(bytes);
        if (hash.AsSpan().SequenceEqual(_fileHash))
        {
            return false;
        }

        _current = CredentialSet.Parse(Encoding.UTF8.GetString(bytes), Path);
        _fileHash = hash;
        _verified.Clear();
        return true;
    }

    /// <summary>The caller for the header, <see cref="Caller.Anonymous"/> without one, or null when the credential is wrong.</summary>
    public Caller? Authenticate(string? authorization)
    {
        if (string.IsNullOrEmpty(authorization))
        {
            return Caller.Anonymous;
        }

        var set = _current;
        if (authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateBasic(set, authorization[6..].Trim());
        }

        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(authorization.Trim()));
        ApiKeyEntry? match = null;
        // Every key is compared, in constant time each, so the time taken says nothing about which one was close.
        foreach (var key in set.Keys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, key.Sha256))
            {
                match = key;
            }
        }

        return match is null ? null : new Caller("key:" + match.Id, AuthMethod.ApiKey, match.Grants);
    }

    private Caller? AuthenticateBasic(CredentialSet set, string encoded)
    {
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
        }
        catch (FormatException)
        {
            return null;
        }

        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return null;
        }

        var name = decoded[..colon];
        var password = decoded[(colon + 1)..];
        var cacheKey = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(decoded)));
        if (_verified.TryGetValue(cacheKey, out var known) && ReferenceEquals(set.Users.GetValueOrDefault(name), known))
        {
            return new Caller("user:" + known.Name, AuthMethod.Basic, known.Grants);
        }

        if (!set.Users.TryGetValue(name, out var user))
        {
            set.Dummy.Verify(password);
            return null;
        }

        if (!user.Password.Verify(password))
        {
            return null;
        }

        if (_verified.Count < VerifiedCacheLimit)
        {
            _verified[cacheKey] = user;
        }

        return new Caller("user:" + user.Name, AuthMethod.Basic, user.Grants);
    }
}
