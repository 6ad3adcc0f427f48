using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BulkExport.Publishing.Layout;
using BulkExport.Server.Access;
using BulkExport.Server.Registers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BulkExport.Server.Endpoints;

/// <summary>GetAvailableFileDownloads, GetFile and the latest paths.</summary>
internal static class FileDownloadEndpoints
{
    private const string ListName = "GetAvailableFileDownloads";
    private const string FileName = "GetFile";
    private static readonly string[] ListParameters = ["Register", "Version", "Entity"];
    private static readonly string[] FileParameters = ["Filename", "Register", "LatestTotalForEntity", "Type", "Format", "Version"];
    private static readonly string[] LatestParameters = ["Version"];

    /// <summary>HEAD as well: consumers check size, ETag and Last-Modified before downloading.</summary>
    private static readonly string[] GetAndHead = [HttpMethods.Get, HttpMethods.Head];

    public static IEndpointRouteBuilder MapFileDownloads(this IEndpointRouteBuilder app)
    {
        // The typed parameters only describe the endpoints for OpenAPI; the handlers read the query
        // themselves so that unknown and repeated parameters are refused with the guide's 400.
        app.MapMethods("/FileDownloads/GetAvailableFileDownloads", GetAndHead, (HttpContext context, ServedRegisters registers, FileDelivery delivery, string? Register, string? Version, string? Entity) =>
                List(context, registers, delivery))
            .WithName(ListName)
            .WithSummary("The available files (catalog rows) of every register, or of one register, version and entity")
            .Produces<CatalogRow[]>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);

        app.MapMethods("/FileDownloads/GetFile", GetAndHead, (HttpContext context, ServedRegisters registers, FileDelivery delivery, string? Filename, string? Register, string? LatestTotalForEntity, string? Type, string? Format, string? Version) =>
                GetFileAsync(context, registers, delivery))
            .WithName(FileName)
            .WithSummary("One file by Filename; the newest total of an entity, type of data and format; or every newest total of a register as one zip")
            .Produces(StatusCodes.Status200OK, contentType: FileDelivery.ZipType)
            .Produces(StatusCodes.Status206PartialContent, contentType: FileDelivery.ZipType)
            .Produces(StatusCodes.Status302Found)
            .Produces(StatusCodes.Status304NotModified)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);

        app.MapMethods("/registers/{register}/latest/{entity}/{typeOfData}/{format}", GetAndHead, (HttpContext context, ServedRegisters registers, FileDelivery delivery, string register, string entity, string typeOfData, string format, string? Version) =>
                Latest(context, registers, delivery, register, entity, typeOfData, format))
            .WithName("Latest")
            .WithSummary("A stable URL answering 302 to the newest total of an entity, type of data and format")
            .Produces(StatusCodes.Status302Found)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    private static IResult List(HttpContext context, ServedRegisters registers, FileDelivery delivery)
    {
        if (!QueryRules.TryRead(context.Request.Query, ListName, ListParameters, out var query, out var error))
        {
            return Problems.BadRequest(error!);
        }

        var caller = AccessPolicy.CallerOf(context);
        if (!query.TryGetValue("Register", out var code))
        {
            if (query.Count > 0)
            {
                return Problems.BadRequest($"{string.Join(" and ", query.Keys)}: only together with Register");
            }

            var visible = registers.All.Where(r => AccessPolicy.CanRead(caller, r)).Select(r => r.Snapshot).ToList();
            context.Response.Headers.CacheControl = visible.Count == registers.All.Count && !registers.AnyRestricted ? delivery.ListingCacheControl(null) : "private, max-age=0";
            return Json(context, visible, ConcatenateListings(visible));
        }

        if (QueryRules.CheckRegister(code) is { } badRegister)
        {
            return Problems.BadRequest(badRegister);
        }

        if (ReadVersion(query, out var version) is { } badVersion)
        {
            return Problems.BadRequest(badVersion);
        }

        query.TryGetValue("Entity", out var entity);
        if (entity is not null && QueryRules.CheckEntity(entity, "Entity") is { } badEntity)
        {
            return Problems.BadRequest(badEntity);
        }

        if (Resolve(context, registers, code, out var register) is { } unavailable)
        {
            return unavailable;
        }

        var snapshot = register.Snapshot;
        context.Response.Headers.CacheControl = delivery.ListingCacheControl(register);
        if (version is null && entity is null)
        {
            return Json(context, [snapshot], snapshot.ListingJson);
        }

        var rows = snapshot.Rows
            .Where(r => (version is null || r.Version == version) && (entity is null || string.Equals(r.EntityName, entity, StringComparison.OrdinalIgnoreCase)))
            .ToList();
        return Json(context, [snapshot], System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(rows, RegisterSnapshot.RowJson));
    }

    /// <summary>The listing with an ETag over the catalogs it came from and the query, and 304 for a repeat.</summary>
    private static IResult Json(HttpContext context, IReadOnlyList<RegisterSnapshot> sources, byte[] body)
    {
        var seed = string.Join('|', sources.Select(s => s.Register + ":" + s.ETag)) + "?" + context.Request.QueryString.Value;
        var etag = $"\"{Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(seed)))[..32].ToLowerInvariant()}\"";
        context.Response.Headers.ETag = etag;
        if (context.Request.Headers.IfNoneMatch.Any(v => v is not null && (v == "*" || v.Split(',').Any(t => t.Trim() == etag || t.Trim() == "W/" + etag))))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(body, "application/json; charset=utf-8");
    }

    private static byte[] ConcatenateListings(IReadOnlyList<RegisterSnapshot> snapshots)
    {
        using var buffer = new MemoryStream();
        buffer.WriteByte((byte)'[');
        var first = true;
        foreach (var listing in snapshots.Select(s => s.ListingJson).Where(l => l.Length > 2))
        {
            if (!first)
            {
                buffer.WriteByte((byte)',');
            }

            buffer.Write(listing.AsSpan(1, listing.Length - 2));
            first = false;
        }

        buffer.WriteByte((byte)']');
        return buffer.ToArray();
    }

    private static async Task<IResult> GetFileAsync(HttpContext context, ServedRegisters registers, FileDelivery delivery)
    {
        if (!QueryRules.TryRead(context.Request.Query, FileName, FileParameters, out var query, out var error))
        {
            return Problems.BadRequest(error!);
        }

        if (query.TryGetValue("Filename", out var filename))
        {
            if (query.Count > 1)
            {
                return Problems.BadRequest("Filename: can only be given alone");
            }

            if (QueryRules.CheckFilename(filename) is { } badName)
            {
                return Problems.BadRequest(badName);
            }

            var caller = AccessPolicy.CallerOf(context);
            foreach (var candidate in registers.All)
            {
                if (candidate.Snapshot.Find(filename) is { } row)
                {
                    return AccessPolicy.CanRead(caller, candidate)
                        ? await delivery.FileAsync(context, candidate, row).ConfigureAwait(false)
                        : AccessPolicy.Hidden(context, registers);
                }
            }

            return AccessPolicy.Hidden(context, registers);
        }

        if (!query.TryGetValue("Register", out var code))
        {
            return Problems.BadRequest(query.Count == 0
                ? "give Filename, or Register (with LatestTotalForEntity, Type and Format for one entity's newest total)"
                : $"{string.Join(" and ", query.Keys)}: only together with Register");
        }

        if (QueryRules.CheckRegister(code) is { } badRegister)
        {
            return Problems.BadRequest(badRegister);
        }

        if (ReadVersion(query, out var version) is { } badVersion)
        {
            return Problems.BadRequest(badVersion);
        }

        query.TryGetValue("LatestTotalForEntity", out var entity);
        query.TryGetValue("Type", out var type);
        query.TryGetValue("Format", out var format);
        if (entity is null && (type is not null || format is not null))
        {
            return Problems.BadRequest($"{(type is not null ? "Type" : "Format")}: only together with LatestTotalForEntity");
        }

        if (entity is not null)
        {
            if (type is null || format is null)
            {
                return Problems.BadRequest($"LatestTotalForEntity: needs {(type is null ? "Type" : "Format")} as well");
            }

            if ((QueryRules.CheckEntity(entity, "LatestTotalForEntity") ?? QueryRules.CheckTypeOfData(type, "Type", out type) ?? QueryRules.CheckFormat(format, "Format")) is { } bad)
            {
                return Problems.BadRequest(bad);
            }
        }

        if (Resolve(context, registers, code, out var register) is { } unavailable)
        {
            return unavailable;
        }

        var snapshot = register.Snapshot;
        if (entity is null)
        {
            var totals = snapshot.NewestTotals(version);
            if (totals.Count == 0)
            {
                return Problems.NotFound($"Register: {register.Code} has no total{(version is null ? "" : $" in version {version}")} yet");
            }

            var newest = totals.Max(r => r.GenerationNumber);
            var name = $"{register.Code}{(version is null ? "" : $"_V{version}")}_TotalDownloads_{newest.ToString(CultureInfo.InvariantCulture)}.zip";
            return delivery.Bundle(context, register, totals, name);
        }

        if (snapshot.NewestTotal(entity, type!, format!, version) is not { } parts)
        {
            return Problems.NotFound($"no total of {register.Code} {entity} {type} {format}{(version is null ? "" : $" in version {version}")}");
        }

        return await DeliverTotalAsync(context, delivery, register, parts).ConfigureAwait(false);
    }

    /// <summary>The optional Version parameter; the 400 detail when it is malformed.</summary>
    private static string? ReadVersion(Dictionary<string, string> query, out int? version)
    {
        version = null;
        if (!query.TryGetValue("Version", out var text))
        {
            return null;
        }

        var error = QueryRules.CheckVersion(text, out var value);
        version = error is null ? value : null;
        return error;
    }

    /// <summary>The register asked for, or the answer when it is unknown (404) or not visible to the caller.</summary>
    internal static IResult? Resolve(HttpContext context, ServedRegisters registers, string code, out ServedRegister register)
    {
        register = registers.Find(code)!;
        if (register is null)
        {
            return Problems.NotFound($"Register: no register '{code}'");
        }

        return AccessPolicy.CanRead(AccessPolicy.CallerOf(context), register) ? null : AccessPolicy.Hidden(context, registers);
    }

    /// <summary>A total in one file is that file; one split into parts is the parts in one zip.</summary>
    private static Task<IResult> DeliverTotalAsync(HttpContext context, FileDelivery delivery, ServedRegister register, IReadOnlyList<CatalogRow> parts)
    {
        if (parts.Count == 1)
        {
            return delivery.FileAsync(context, register, parts[0]);
        }

        var first = parts[0];
        var name = FileNaming.BaseName(first.Register, first.Version, first.EntityName, first.TypeOfDownload, first.ContainedFileFormat, first.TypeOfData, first.GenerationNumber, 1, 1) + ".zip";
        return Task.FromResult(delivery.Bundle(context, register, parts, name));
    }

    private static IResult Latest(HttpContext context, ServedRegisters registers, FileDelivery delivery, string code, string entity, string typeOfData, string format)
    {
        if (!QueryRules.TryRead(context.Request.Query, "latest", LatestParameters, out var query, out var error))
        {
            return Problems.BadRequest(error!);
        }

        if (ReadVersion(query, out var version) is { } badVersion)
        {
            return Problems.BadRequest(badVersion);
        }

        if ((QueryRules.CheckRegister(code) ?? QueryRules.CheckEntity(entity, "Entity") ?? QueryRules.CheckTypeOfData(typeOfData, "TypeOfData", out typeOfData) ?? QueryRules.CheckFormat(format, "Format")) is { } bad)
        {
            return Problems.BadRequest(bad);
        }

        if (Resolve(context, registers, code, out var register) is { } unavailable)
        {
            return unavailable;
        }

        if (register.Snapshot.NewestTotal(entity, typeOfData, format, version) is not { } parts)
        {
            return Problems.NotFound($"no total of {register.Code} {entity} {typeOfData} {format}{(version is null ? "" : $" in version {version}")}");
        }

        // The target changes with every new total; a cache may hold the redirect only as long as a listing.
        context.Response.Headers.CacheControl = delivery.ListingCacheControl(register);
        var location = parts.Count == 1
            ? Links.File(parts[0].Filename)
            : $"/FileDownloads/GetFile?Register={register.Code}&LatestTotalForEntity={Uri.EscapeDataString(parts[0].EntityName)}&Type={parts[0].TypeOfData}&Format={parts[0].ContainedFileFormat}&Version={parts[0].Version}";
        return Results.Redirect(location);
    }
}

/// <summary>The service's own URLs, relative to its root.</summary>
internal static class Links
{
    public static string File(string filename) => "/FileDownloads/GetFile?Filename=" + Uri.EscapeDataString(filename);

    public static string Latest(CatalogRow row) => $"/registers/{row.Register}/latest/{row.EntityName}/{row.TypeOfData}/{row.ContainedFileFormat}";

    public static string Feed(string register) => $"/registers/{register}/feed.atom";

    public static string FeedArchive(string register, long page) => $"/registers/{register}/feed/{page.ToString(CultureInfo.InvariantCulture)}.atom";
}
