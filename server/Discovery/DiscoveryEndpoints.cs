using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json.Nodes;
using System.Xml;
using BulkExport.Publishing.Layout;
using BulkExport.Server.Access;
using BulkExport.Server.Configuration;
using BulkExport.Server.Endpoints;
using BulkExport.Server.Registers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BulkExport.Server.Discovery;

/// <summary>
/// How consumers find the files without knowing the layout: <c>/data.json</c> (Project Open Data v1.1),
/// an Atom feed per register paged as RFC 5005 archives, and a page for people. Each shows only the
/// registers the caller may read.
/// </summary>
internal static class DiscoveryEndpoints
{
    public const string AtomType = "application/atom+xml; charset=utf-8";
    private const string AtomNamespace = "http://www.w3.org/2005/Atom";
    private const string ArchiveNamespace = "http://purl.org/syndication/history/1.0";

    public static IEndpointRouteBuilder MapDiscovery(this IEndpointRouteBuilder app)
    {
        app.MapGet("/data.json", (HttpContext context, ServedRegisters registers, ServerSettings settings, FileDelivery delivery) =>
        {
            context.Response.Headers.CacheControl = registers.AnyRestricted ? "private, max-age=0" : delivery.ListingCacheControl(null);
            return Results.Text(DataJson(Visible(context, registers), settings, BaseUrl(context, settings)).ToJsonString(), "application/json; charset=utf-8");
        })
            .WithSummary("Project Open Data v1.1 catalogue: one dataset per register and entity, a distribution per newest total")
            .Produces(StatusCodes.Status200OK, contentType: "application/json");

        app.MapGet("/registers/{register}/feed.atom", (HttpContext context, ServedRegisters registers, ServerSettings settings, FileDelivery delivery, string register) =>
            Feed(context, registers, settings, delivery, register, page: null))
            .WithSummary("Atom subscription document of a register: its newest generations, with a prev-archive link (RFC 5005)")
            .Produces(StatusCodes.Status200OK, contentType: "application/atom+xml");

        app.MapGet("/registers/{register}/feed/{page:long}.atom", (HttpContext context, ServedRegisters registers, ServerSettings settings, FileDelivery delivery, string register, long page) =>
            Feed(context, registers, settings, delivery, register, page))
            .WithSummary("An archived Atom page (RFC 5005) of a register's older generations")
            .Produces(StatusCodes.Status200OK, contentType: "application/atom+xml");

        app.MapGet("/", (HttpContext context, ServedRegisters registers, ServerSettings settings, FileDelivery delivery) =>
        {
            context.Response.Headers.CacheControl = registers.AnyRestricted ? "private, max-age=0" : delivery.ListingCacheControl(null);
            return Results.Content(HomePage.Render(Visible(context, registers), BaseUrl(context, settings)), "text/html; charset=utf-8");
        }).ExcludeFromDescription();
        return app;
    }

    private static List<ServedRegister> Visible(HttpContext context, ServedRegisters registers)
    {
        var caller = AccessPolicy.CallerOf(context);
        return [.. registers.All.Where(r => AccessPolicy.CanRead(caller, r))];
    }

    public static string BaseUrl(HttpContext context, ServerSettings settings) =>
        settings.PublicBaseUrl?.AbsoluteUri.TrimEnd('/') ?? $"{context.Request.Scheme}://{context.Request.Host}{context.Request.PathBase}";

    private static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    internal static JsonObject DataJson(IReadOnlyList<ServedRegister> registers, ServerSettings settings, string baseUrl)
    {
        var datasets = new JsonArray();
        foreach (var register in registers)
        {
            var snapshot = register.Snapshot;
            var totals = snapshot.NewestTotals(version: null);
            foreach (var entity in snapshot.Entities)
            {
                var files = totals.Where(r => r.EntityName == entity).ToList();
                var all = snapshot.Rows.Where(r => r.EntityName == entity).ToList();
                var distributions = new JsonArray();
                foreach (var row in files)
                {
                    distributions.Add(new JsonObject
                    {
                        ["@type"] = "dcat:Distribution",
                        ["title"] = row.Filename,
                        ["description"] = $"{row.TypeOfData} total of {entity}, generation {row.GenerationNumber}, {row.ContainedFileFormat} in a zip" + (row.PartCount > 1 ? $", part {row.Part} of {row.PartCount}" : ""),
                        ["downloadURL"] = baseUrl + Links.File(row.Filename),
                        ["mediaType"] = FileDelivery.ZipType,
                        ["format"] = row.ContainedFileFormat,
                        ["byteSize"] = row.SizeBytes,
                        ["modified"] = Iso(row.GenerationTime),
                        ["checksum"] = new JsonObject { ["algorithm"] = "sha256", ["checksumValue"] = row.Sha256 },
                    });
                }

                distributions.Add(new JsonObject
                {
                    ["@type"] = "dcat:Distribution",
                    ["title"] = $"{register.Code} generations (Atom)",
                    ["description"] = "Every committed generation with links to its files; RFC 5005 archived feed",
                    ["accessURL"] = baseUrl + Links.Feed(register.Code),
                    ["mediaType"] = "application/atom+xml",
                    ["format"] = "Atom",
                });

                datasets.Add(new JsonObject
                {
                    ["@type"] = "dcat:Dataset",
                    ["title"] = $"{register.Code} {entity}",
                    ["description"] = $"Bulk downloads of the {entity} entity of the {register.Code} register: totals (all rows at a generation's point in time) and deltas (changes since the previous generation).",
                    ["keyword"] = new JsonArray(register.Code, entity, "bulk download"),
                    ["modified"] = all.Count == 0 ? null : Iso(all.Max(r => r.GenerationTime)),
                    ["publisher"] = new JsonObject { ["@type"] = "org:Organization", ["name"] = settings.PublisherName },
                    ["contactPoint"] = new JsonObject { ["@type"] = "vcard:Contact", ["fn"] = settings.PublisherName, ["hasEmail"] = "mailto:" + settings.ContactEmail },
                    ["identifier"] = $"{baseUrl}/registers/{register.Code}/{entity}",
                    ["accessLevel"] = register.Access.IsPublic ? "public" : "restricted public",
                    ["accrualPeriodicity"] = "irregular",
                    ["distribution"] = distributions,
                });
            }
        }

        return new JsonObject
        {
            ["@context"] = "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld",
            ["@type"] = "dcat:Catalog",
            ["conformsTo"] = "https://project-open-data.cio.gov/v1.1/schema",
            ["describedBy"] = "https://project-open-data.cio.gov/v1.1/schema/catalog.json",
            ["dataset"] = datasets,
        };
    }

    /// <summary>
    /// Generations are paged by number: page p holds generations p·size … p·size+size−1, so an archive
    /// page keeps its content as generations are added (RFC 5005 §4). The subscription document is the
    /// newest page; retention only ever removes the oldest entries.
    /// </summary>
    private static IResult Feed(HttpContext context, ServedRegisters registers, ServerSettings settings, FileDelivery delivery, string code, long? page)
    {
        if (QueryRules.CheckRegister(code) is { } bad || context.Request.Query.Count > 0)
        {
            return Problems.BadRequest(QueryRules.CheckRegister(code) ?? "the feed takes no parameters");
        }

        if (FileDownloadEndpoints.Resolve(context, registers, code, out var register) is { } unavailable)
        {
            return unavailable;
        }

        var snapshot = register.Snapshot;
        var size = settings.FeedPageSize;
        var pages = snapshot.Generations.Select(g => g.Generation / size).Distinct().Order().ToList();
        var current = pages.Count == 0 ? 0 : pages[^1];
        if (page is { } p && (p == current || !pages.Contains(p)))
        {
            // The newest page is only ever the subscription document; it is not an archive yet.
            return Problems.NotFound($"no archived page {p} of {register.Code}");
        }

        var shown = page ?? current;
        var index = pages.IndexOf(shown);
        long? previous = index > 0 ? pages[index - 1] : null;
        long? next = page is not null && index + 1 < pages.Count - 1 ? pages[index + 1] : null;
        var entries = snapshot.Generations.Where(g => g.Generation / size == shown).ToList();
        var baseUrl = BaseUrl(context, settings);
        context.Response.Headers.CacheControl = delivery.ListingCacheControl(register);
        return Results.Bytes(Atom(register, entries, baseUrl, settings, page, previous, next, snapshot.Modified), AtomType);
    }

    private static byte[] Atom(ServedRegister register, IReadOnlyList<GenerationFiles> entries, string baseUrl, ServerSettings settings, long? archivePage, long? previous, long? next, DateTimeOffset? modified)
    {
        var archive = archivePage is not null;
        using var text = new MemoryStream();
        using (var xml = XmlWriter.Create(text, new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false) }))
        {
            xml.WriteStartElement("feed", AtomNamespace);
            xml.WriteAttributeString("xmlns", "fh", null, ArchiveNamespace);
            xml.WriteElementString("id", AtomNamespace, $"{baseUrl}{Links.Feed(register.Code)}");
            xml.WriteElementString("title", AtomNamespace, $"{register.Code} bulk downloads: generations");
            xml.WriteElementString("updated", AtomNamespace, Iso((entries.Count > 0 ? entries.Max(e => e.GenerationTime) : modified) ?? DateTimeOffset.UnixEpoch));
            xml.WriteStartElement("author", AtomNamespace);
            xml.WriteElementString("name", AtomNamespace, settings.PublisherName);
            xml.WriteEndElement();
            if (archive)
            {
                xml.WriteElementString("archive", ArchiveNamespace, "");
            }

            Link(xml, "self", baseUrl + (archivePage is { } own ? Links.FeedArchive(register.Code, own) : Links.Feed(register.Code)), AtomType);
            Link(xml, "current", baseUrl + Links.Feed(register.Code), null);
            if (previous is { } prev)
            {
                Link(xml, "prev-archive", baseUrl + Links.FeedArchive(register.Code, prev), null);
            }

            if (next is { } nxt)
            {
                Link(xml, "next-archive", baseUrl + Links.FeedArchive(register.Code, nxt), null);
            }

            foreach (var generation in entries)
            {
                var kind = generation.HasTotals ? "total" : "delta";
                xml.WriteStartElement("entry", AtomNamespace);
                xml.WriteElementString("id", AtomNamespace, $"{baseUrl}/registers/{register.Code}/generations/{generation.Generation.ToString(CultureInfo.InvariantCulture)}");
                xml.WriteElementString("title", AtomNamespace, $"{register.Code} generation {generation.Generation} ({kind})");
                xml.WriteElementString("updated", AtomNamespace, Iso(generation.GenerationTime));
                xml.WriteStartElement("category", AtomNamespace);
                xml.WriteAttributeString("term", kind);
                xml.WriteEndElement();
                foreach (var file in generation.Files)
                {
                    xml.WriteStartElement("link", AtomNamespace);
                    xml.WriteAttributeString("rel", "enclosure");
                    xml.WriteAttributeString("type", FileDelivery.ZipType);
                    xml.WriteAttributeString("length", file.SizeBytes.ToString(CultureInfo.InvariantCulture));
                    xml.WriteAttributeString("title", file.Filename);
                    xml.WriteAttributeString("href", baseUrl + Links.File(file.Filename));
                    xml.WriteEndElement();
                }

                var records = generation.Files.Sum(f => f.RecordCount);
                xml.WriteElementString("summary", AtomNamespace, $"{generation.Files.Count} files, {records} records; point in time {Iso(generation.Files[0].PointInTime)}" +
                    (generation.Files.FirstOrDefault(f => f.BaseGenerationNumber is not null)?.BaseGenerationNumber is { } b ? $"; deltas follow generation {b}" : ""));
                xml.WriteEndElement();
            }

            xml.WriteEndElement();
        }

        return text.ToArray();
    }

    private static void Link(XmlWriter xml, string rel, string href, string? type)
    {
        xml.WriteStartElement("link", AtomNamespace);
        xml.WriteAttributeString("rel", rel);
        xml.WriteAttributeString("href", href);
        if (type is not null)
        {
            xml.WriteAttributeString("type", type.Split(';')[0]);
        }

        xml.WriteEndElement();
    }
}
