using System.IO.Compression;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Stores;
using BulkExport.Server.Configuration;
using BulkExport.Server.Registers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace BulkExport.Server.Endpoints;

/// <summary>
/// Sends files: from S3 a 302 to a presigned URL (the bytes never pass through the service); from a
/// directory the bytes, with Range, the sha256 as ETag, Last-Modified and 304s done by ASP.NET's file
/// result. Several files (a register's newest totals, a split total) go out as one zip, streamed.
/// </summary>
internal sealed partial class FileDelivery(ServerSettings settings, ILogger<FileDelivery> logger)
{
    public const string ZipType = "application/zip";

    /// <summary>Data files are never rewritten under the same name, so caches may keep them forever.</summary>
    public static string ImmutableCacheControl(ServedRegister register) =>
        (register.Access.IsPublic ? "public" : "private") + ", max-age=31536000, immutable";

    public string ListingCacheControl(ServedRegister? register) =>
        (register is null || register.Access.IsPublic ? "public" : "private") + $", max-age={(long)settings.ListingMaxAge.TotalSeconds}";

    public async Task<IResult> FileAsync(HttpContext context, ServedRegister register, CatalogRow row)
    {
        if (register.Reader.PresignGet(row.Key, settings.PresignLifetimeFor(row.SizeBytes), row.Filename) is { } url)
        {
            // The URL expires; neither the redirect nor its target may be cached beyond that. Its lifetime
            // follows the file's size: the slowest consumer promised can still resume it with Range.
            context.Response.Headers.CacheControl = "private, no-store";
            return Results.Redirect(url.AbsoluteUri);
        }

        if (register.Reader is LocalObjectStore local)
        {
            return LocalFile(context, register, row, local.FilePath(row.Key));
        }

        var read = await register.Reader.ReadAsync(row.Key, ReadConditions.None, context.RequestAborted).ConfigureAwait(false);
        if (read.Outcome != ReadOutcome.Found || read.Content is null)
        {
            // Listed but gone: retention deleted it after the catalog snapshot; the next refresh drops it.
            await read.DisposeAsync().ConfigureAwait(false);
            return Access.Problems.NotFound();
        }

        context.Response.Headers.CacheControl = ImmutableCacheControl(register);
        return Results.Stream(read.Content, ZipType, row.Filename, row.GenerationTime, EntityTag(row), enableRangeProcessing: true);
    }

    /// <summary>
    /// A file of a local store, sent by ASP.NET's physical-file result (Range, If-Range, 304, 412, HEAD)
    /// with the catalog's sha256 as ETag and its generation time as Last-Modified: nothing is hashed or
    /// read per request but one stat, and the bytes go through <see cref="PipeSendFileFeature"/>.
    /// </summary>
    private IResult LocalFile(HttpContext context, ServedRegister register, CatalogRow row, string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            // Listed but gone: retention deleted it after the catalog snapshot; the next refresh drops it.
            return Access.Problems.NotFound();
        }

        if (info.Length != row.SizeBytes)
        {
            // A name is never reused, so a different size is damage; the catalog's ETag would be a lie.
            SizeMismatch(row.Filename, path, info.Length, row.SizeBytes);
            return Results.Problem(statusCode: StatusCodes.Status500InternalServerError, title: "Stored file damaged",
                detail: $"{row.Filename}: the stored file does not match the catalog");
        }

        context.Response.Headers.CacheControl = ImmutableCacheControl(register);
        return new SendFileResult(TypedResults.PhysicalFile(path, ZipType, row.Filename, row.GenerationTime, EntityTag(row), enableRangeProcessing: true));
    }

    private static EntityTagHeaderValue EntityTag(CatalogRow row) => new($"\"{row.Sha256}\"");

    [LoggerMessage(EventId = 310, Level = LogLevel.Error, Message = "{Filename}: {Path} holds {Actual} bytes, the catalog says {Expected}; not served")]
    private partial void SizeMismatch(string filename, string path, long actual, long expected);

    /// <summary>Runs a file result with <see cref="PipeSendFileFeature"/> in place of Kestrel's send-file.</summary>
    private sealed class SendFileResult(IResult inner) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            var features = httpContext.Features;
            var kestrel = features.GetRequiredFeature<IHttpResponseBodyFeature>();
            features.Set<IHttpResponseBodyFeature>(new PipeSendFileFeature(kestrel));
            try
            {
                await inner.ExecuteAsync(httpContext).ConfigureAwait(false);
            }
            finally
            {
                features.Set(kestrel);
            }
        }
    }

    /// <summary>
    /// The files as entries of one zip written straight to the response: each entry is already a zip, so
    /// it is stored, not compressed again, and nothing is staged in memory or on disk.
    /// </summary>
    public IResult Bundle(HttpContext context, ServedRegister register, IReadOnlyList<CatalogRow> rows, string downloadName)
    {
        context.Response.Headers.CacheControl = ListingCacheControl(register);
        return Results.Stream(async body =>
        {
            var cancellationToken = context.RequestAborted;
            await using var bridge = new AsyncWriteBridge(body);
            await using (var zip = await ZipArchive.CreateAsync(bridge, ZipArchiveMode.Create, leaveOpen: true, entryNameEncoding: null, cancellationToken).ConfigureAwait(false))
            {
                foreach (var row in rows)
                {
                    var entry = zip.CreateEntry(row.Filename, CompressionLevel.NoCompression);
                    entry.LastWriteTime = row.GenerationTime;
                    await using var target = await entry.OpenAsync(cancellationToken).ConfigureAwait(false);
                    await using var source = await register.Reader.OpenReadAsync(row.Key, cancellationToken).ConfigureAwait(false);
                    await source.CopyToAsync(target, 1 << 16, cancellationToken).ConfigureAwait(false);
                }
            }

            await bridge.FlushAsync(cancellationToken).ConfigureAwait(false);
        }, ZipType, downloadName);
    }
}
