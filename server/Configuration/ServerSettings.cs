using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BulkExport.Api;
using YamlDotNet.Core;

namespace BulkExport.Server.Configuration;

/// <summary>
/// The download service's own settings (<c>--settings server.yaml</c>): who may read which register,
/// rate limits, presigned URL lifetime, refresh interval, publisher shown in data.json. Parsed and
/// validated once at start; every duration and number is typed here, so nothing downstream parses text.
/// </summary>
internal sealed partial record ServerSettings
{
    /// <summary>SigV4 presigned URLs are valid for at most seven days.</summary>
    public static readonly TimeSpan MaxPresignLifetime = TimeSpan.FromDays(7);

    /// <summary>Absolute base of links in data.json, Atom and the page; null: the request's scheme and host.</summary>
    public Uri? PublicBaseUrl { get; init; }

    /// <summary>
    /// Host names the service answers to (<c>allowedHosts</c>; <c>*.example.org</c> covers subdomains);
    /// a request with any other Host gets 400. Empty: see <see cref="AcceptedHosts"/>.
    /// </summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>What a request's Host may be when nothing else is said: the machine itself.</summary>
    public static readonly IReadOnlyList<string> LoopbackHosts = ["localhost", "127.0.0.1", "[::1]"];

    /// <summary>
    /// The Host headers accepted, null: any. Without <c>publicBaseUrl</c> links are built from the Host,
    /// and listings are publicly cacheable, so an unchecked Host would let a forged one into a shared
    /// cache's copy: then only <c>allowedHosts</c>, or when that is not set, loopback. With
    /// <c>publicBaseUrl</c> and no <c>allowedHosts</c> the Host appears in no response and any is accepted.
    /// </summary>
    public IReadOnlyList<string>? AcceptedHosts =>
        AllowedHosts.Count > 0 ? AllowedHosts : PublicBaseUrl is null ? LoopbackHosts : null;

    /// <summary>
    /// The shortest lifetime of a presigned S3 URL (<c>presignLifetime</c>); a file too large to be fetched
    /// in that time at <see cref="PresignMinimumBandwidth"/> gets a longer one (<see cref="PresignLifetimeFor"/>).
    /// </summary>
    public TimeSpan PresignLifetime { get; init; } = TimeSpan.FromHours(12);

    /// <summary>
    /// The slowest consumer the service promises to serve, bytes per second (<c>presignMinimumBandwidth</c>):
    /// a URL lives at least as long as such a consumer needs for the whole file, resumes included.
    /// </summary>
    public long PresignMinimumBandwidth { get; init; } = 1L << 20;

    /// <summary>
    /// The lifetime of a presigned URL for a file of <paramref name="sizeBytes"/>: the time the slowest
    /// consumer needs for it, at least <see cref="PresignLifetime"/>, at most SigV4's seven days.
    /// </summary>
    public TimeSpan PresignLifetimeFor(long sizeBytes)
    {
        var needed = PresignNeeded(sizeBytes);
        return needed <= PresignLifetime ? PresignLifetime : needed >= MaxPresignLifetime ? MaxPresignLifetime : needed;
    }

    /// <summary>Whole seconds the slowest consumer needs for <paramref name="sizeBytes"/> (rounded up); may exceed the cap.</summary>
    public TimeSpan PresignNeeded(long sizeBytes) =>
        TimeSpan.FromSeconds(Math.Ceiling(Math.Max(0, sizeBytes) / (double)PresignMinimumBandwidth));

    /// <summary>How often the catalog (a conditional GET) and the credentials file are checked for changes.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary><c>max-age</c> of listings, feeds and latest redirects (data files are immutable).</summary>
    public TimeSpan ListingMaxAge { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Generations per Atom page: the subscription document and each RFC 5005 archive hold one bucket.</summary>
    public int FeedPageSize { get; init; } = 50;

    public string? CredentialsFile { get; init; }

    public RateLimitSettings? RateLimit { get; init; }

    public string PublisherName { get; init; } = "BulkExport";

    public string ContactEmail { get; init; } = "downloads@example.org";

    /// <summary>Access per register; a register not listed is public.</summary>
    public IReadOnlyDictionary<string, RegisterAccess> Registers { get; init; } = new Dictionary<string, RegisterAccess>(StringComparer.Ordinal);

    public RegisterAccess AccessOf(string register) => Registers.TryGetValue(register, out var access) ? access : RegisterAccess.Public;

    public static ServerSettings LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException(path, [new ValidationError("--settings", $"cannot read '{path}': {e.Message}")]);
        }

        return Parse(text, path);
    }

    public static ServerSettings Parse(string yaml, string source)
    {
        var root = Yaml.ParseSingle(yaml, source);
        var errors = new List<ValidationError>();
        var settings = Bind(root, errors);
        return errors.Count > 0 ? throw new ConfigurationException(source, errors) : settings;
    }

    private static ServerSettings Bind(JsonObject root, List<ValidationError> errors)
    {
        Yaml.RejectUnknown(root, "", errors, "publicBaseUrl", "allowedHosts", "presignLifetime", "presignMinimumBandwidth", "refreshInterval", "listingMaxAge", "feedPageSize", "credentialsFile", "rateLimit", "publisher", "registers");
        var settings = new ServerSettings();
        if (Yaml.String(root, "publicBaseUrl", errors) is { } baseUrl)
        {
            if (Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && string.IsNullOrEmpty(uri.Query))
            {
                settings = settings with { PublicBaseUrl = new Uri(uri.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/") };
            }
            else
            {
                errors.Add(new("publicBaseUrl", $"'{baseUrl}' is not an absolute http(s) URL without a query"));
            }
        }

        settings = settings with { AllowedHosts = BindAllowedHosts(root["allowedHosts"], errors) };
        settings = settings with
        {
            PresignLifetime = Yaml.Duration(root, "presignLifetime", errors, settings.PresignLifetime, MaxPresignLifetime),
            PresignMinimumBandwidth = Yaml.Bandwidth(root, "presignMinimumBandwidth", errors, settings.PresignMinimumBandwidth),
            RefreshInterval = Yaml.Duration(root, "refreshInterval", errors, settings.RefreshInterval, TimeSpan.FromDays(1)),
            ListingMaxAge = Yaml.Duration(root, "listingMaxAge", errors, settings.ListingMaxAge, TimeSpan.FromDays(1), allowZero: true),
            FeedPageSize = Yaml.Integer(root, "feedPageSize", errors, settings.FeedPageSize, 1, 10_000),
            CredentialsFile = Yaml.String(root, "credentialsFile", errors),
        };

        if (root["rateLimit"] is { } rate)
        {
            if (rate is JsonObject r)
            {
                Yaml.RejectUnknown(r, "rateLimit.", errors, "requestsPerSecond", "burst");
                var perSecond = Yaml.Integer(r, "requestsPerSecond", errors, 0, 1, 1_000_000, "rateLimit.", required: true);
                var burst = Yaml.Integer(r, "burst", errors, perSecond, 1, 1_000_000, "rateLimit.");
                settings = settings with { RateLimit = new RateLimitSettings(perSecond, burst) };
            }
            else
            {
                errors.Add(new("rateLimit", "must be a mapping with requestsPerSecond and burst"));
            }
        }

        if (root["publisher"] is JsonObject publisher)
        {
            Yaml.RejectUnknown(publisher, "publisher.", errors, "name", "email");
            settings = settings with
            {
                PublisherName = Yaml.String(publisher, "name", errors, "publisher.") ?? settings.PublisherName,
                ContactEmail = Yaml.String(publisher, "email", errors, "publisher.") ?? settings.ContactEmail,
            };
            if (!settings.ContactEmail.Contains('@', StringComparison.Ordinal))
            {
                errors.Add(new("publisher.email", $"'{settings.ContactEmail}' is not an e-mail address"));
            }
        }
        else if (root["publisher"] is not null)
        {
            errors.Add(new("publisher", "must be a mapping with name and email"));
        }

        var registers = new Dictionary<string, RegisterAccess>(StringComparer.Ordinal);
        if (root["registers"] is JsonObject map)
        {
            foreach (var (name, value) in map)
            {
                var path = $"registers.{name}";
                if (!RegisterPattern().IsMatch(name))
                {
                    errors.Add(new(path, $"'{name}' does not match ^[A-Z][A-Z0-9]{{0,31}}$"));
                    continue;
                }

                if (RegisterAccess.Bind(value, path, errors) is { } access)
                {
                    registers[name] = access;
                }
            }
        }
        else if (root["registers"] is not null)
        {
            errors.Add(new("registers", "must be a mapping from register code to its access"));
        }

        if (settings.CredentialsFile is null && registers.FirstOrDefault(r => !r.Value.IsPublic) is { Key: not null } restricted)
        {
            errors.Add(new($"registers.{restricted.Key}.access", "is restricted, but no credentialsFile is set"));
        }

        return settings with { Registers = registers };
    }

    private static List<string> BindAllowedHosts(JsonNode? node, List<ValidationError> errors)
    {
        var hosts = new List<string>();
        if (node is null)
        {
            return hosts;
        }

        if (node is not JsonArray list || list.Count == 0)
        {
            errors.Add(new("allowedHosts", "must be a non-empty list of host names, e.g. [downloads.example.org]"));
            return hosts;
        }

        for (var i = 0; i < list.Count; i++)
        {
            var path = $"allowedHosts[{i}]";
            var host = list[i] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? (string?)v : null;
            if (host == "*")
            {
                // "*" is what lets a forged Host into the links; a public site names its hosts.
                errors.Add(new(path, "'*' accepts any Host header; list the names the service is reached by"));
            }
            else if (host is null || !(HostPattern().IsMatch(host) || IPv6Pattern().IsMatch(host)))
            {
                errors.Add(new(path, $"'{host ?? list[i]?.ToJsonString()}' is not a host name (no scheme, port or path; '*.' may lead for subdomains)"));
            }
            else
            {
                hosts.Add(host.ToLowerInvariant());
            }
        }

        return hosts;
    }

    [GeneratedRegex("^[A-Z][A-Z0-9]{0,31}$")]
    private static partial Regex RegisterPattern();

    [GeneratedRegex(@"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$", RegexOptions.IgnoreCase)]
    private static partial Regex HostPattern();

    [GeneratedRegex(@"^\[[0-9a-f:.]+\]$", RegexOptions.IgnoreCase)]
    private static partial Regex IPv6Pattern();
}

internal sealed record RateLimitSettings(int RequestsPerSecond, int Burst);

/// <summary>Who may read a register: everyone, or callers presenting an API key and/or a service user granted it.</summary>
internal sealed record RegisterAccess(bool IsPublic, bool ApiKeys, bool Basic)
{
    public const string PublicText = "public";
    public const string RestrictedText = "restricted";
    public const string ApiKeyMethod = "apiKey";
    public const string BasicMethod = "basic";

    public static readonly RegisterAccess Public = new(true, false, false);

    public static RegisterAccess? Bind(JsonNode? node, string path, List<ValidationError> errors)
    {
        if (node is not JsonObject o)
        {
            errors.Add(new(path, $"must be a mapping with access ({PublicText} or {RestrictedText}) and, when restricted, methods"));
            return null;
        }

        Yaml.RejectUnknown(o, path + ".", errors, "access", "methods");
        var access = Yaml.String(o, "access", errors, path + ".");
        if (access is not (PublicText or RestrictedText))
        {
            errors.Add(new($"{path}.access", access is null ? $"required: {PublicText} or {RestrictedText}" : $"'{access}' is not {PublicText} or {RestrictedText}"));
            return null;
        }

        if (access == PublicText)
        {
            if (o["methods"] is not null)
            {
                errors.Add(new($"{path}.methods", "applies only to a restricted register"));
            }

            return Public;
        }

        bool apiKeys = true, basic = true;
        if (o["methods"] is { } methods)
        {
            if (methods is not JsonArray list || list.Count == 0 || list.Any(m => m?.GetValueKind() != JsonValueKind.String))
            {
                errors.Add(new($"{path}.methods", $"must be a non-empty list of {ApiKeyMethod} and/or {BasicMethod}"));
                return null;
            }

            var names = list.Select(m => (string)m!).ToList();
            foreach (var bad in names.Where(n => n is not (ApiKeyMethod or BasicMethod)))
            {
                errors.Add(new($"{path}.methods", $"'{bad}' is not {ApiKeyMethod} or {BasicMethod}"));
            }

            apiKeys = names.Contains(ApiKeyMethod);
            basic = names.Contains(BasicMethod);
        }

        return new RegisterAccess(false, apiKeys, basic);
    }
}

/// <summary>A settings or credentials file that cannot be used; carries every problem found.</summary>
internal sealed class ConfigurationException(string source, IReadOnlyList<ValidationError> errors)
    : Exception($"{source}: {errors.Count} problem(s):{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors))
{
    public IReadOnlyList<ValidationError> Errors { get; } = errors;
}

/// <summary>Typed reads of the YAML (as JSON, through the api's one YAML reader), each failure naming its path.</summary>
internal static partial class Yaml
{
    public static JsonObject ParseSingle(string yaml, string source)
    {
        List<JsonNode?> documents;
        try
        {
            documents = ScheduleDocument.ParseYaml(yaml);
        }
        catch (YamlException e)
        {
            throw new ConfigurationException(source, [new ValidationError("(document)", $"not valid YAML at line {e.Start.Line}, column {e.Start.Column}: {e.InnerException?.Message ?? e.Message}")]);
        }

        return documents switch
        {
            [] or [null] => [],
            [JsonObject o] => o,
            [_] => throw new ConfigurationException(source, [new ValidationError("(document)", "must be a mapping")]),
            _ => throw new ConfigurationException(source, [new ValidationError("(document)", $"{documents.Count} documents found; the file must hold exactly one")]),
        };
    }

    public static void RejectUnknown(JsonObject o, string prefix, List<ValidationError> errors, params string[] known)
    {
        foreach (var (name, _) in o)
        {
            if (!known.Contains(name, StringComparer.Ordinal))
            {
                errors.Add(new(prefix + name, $"unknown setting; expected one of {string.Join(", ", known)}"));
            }
        }
    }

    public static string? String(JsonObject o, string name, List<ValidationError> errors, string prefix = "")
    {
        var node = o[name];
        if (node is null)
        {
            return null;
        }

        if (node.GetValueKind() != JsonValueKind.String || string.IsNullOrWhiteSpace((string?)node))
        {
            errors.Add(new(prefix + name, "must be a non-empty string"));
            return null;
        }

        return (string)node!;
    }

    public static TimeSpan Duration(JsonObject o, string name, List<ValidationError> errors, TimeSpan fallback, TimeSpan max, bool allowZero = false)
    {
        if (String(o, name, errors) is not { } text)
        {
            return fallback;
        }

        if (!GoDuration.TryParse(text, out var value))
        {
            errors.Add(new(name, $"'{text}' is not a duration like 90s, 15m or 12h"));
            return fallback;
        }

        if (value < TimeSpan.Zero || (value == TimeSpan.Zero && !allowZero) || value > max)
        {
            errors.Add(new(name, $"'{text}' must be {(allowZero ? "at least 0" : "above 0")} and at most {GoDurationText(max)}"));
            return fallback;
        }

        return value;
    }

    /// <summary>A rate like <c>1MiB/s</c>, <c>500KB/s</c> or <c>100Mbit/s</c>, in bytes per second.</summary>
    public static long Bandwidth(JsonObject o, string name, List<ValidationError> errors, long fallback)
    {
        if (String(o, name, errors) is not { } text)
        {
            return fallback;
        }

        var match = BandwidthPattern().Match(text);
        if (!match.Success || !decimal.TryParse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
        {
            errors.Add(new(name, $"'{text}' is not a rate like 1MiB/s, 500KB/s or 100Mbit/s"));
            return fallback;
        }

        decimal unit = match.Groups[2].Value switch
        {
            "B" => 1, "KB" => 1e3m, "MB" => 1e6m, "GB" => 1e9m, "KiB" => 1L << 10, "MiB" => 1L << 20, "GiB" => 1L << 30,
            "kbit" or "Kbit" => 1e3m / 8, "Mbit" => 1e6m / 8, "Gbit" => 1e9m / 8,
            _ => 0,
        };
        var bytes = amount * unit;
        if (bytes < 1 || bytes > 1e12m)
        {
            errors.Add(new(name, $"'{text}' must be at least 1B/s and at most 1TB/s"));
            return fallback;
        }

        return (long)Math.Floor(bytes);
    }

    public static int Integer(JsonObject o, string name, List<ValidationError> errors, int fallback, int min, int max, string prefix = "", bool required = false)
    {
        var node = o[name];
        if (node is null)
        {
            if (required)
            {
                errors.Add(new(prefix + name, "required"));
            }

            return fallback;
        }

        if (node.GetValueKind() != JsonValueKind.Number || !int.TryParse(node.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            errors.Add(new(prefix + name, $"must be a whole number from {min} to {max}"));
            return fallback;
        }

        return value;
    }

    [GeneratedRegex(@"^([0-9]+(?:\.[0-9]+)?) ?(B|KB|MB|GB|KiB|MiB|GiB|kbit|Kbit|Mbit|Gbit)/s$")]
    private static partial Regex BandwidthPattern();

    private static string GoDurationText(TimeSpan value) => $"{(long)value.TotalHours}h";
}
