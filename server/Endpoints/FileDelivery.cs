using System.IO.Compression;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Stores;
using BulkExport.Server.Configuration;
using BulkExport.Server.Registers;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace BulkExport.Server.Endpoints;

/// <summary>
/// Sends files: from S3 a 302 to a presigned URL (the bytes never pass through the service); from a
/// directory the bytes, with Range, the sha256 as ETag, Last-Modified and 304s done by ASP.NET's file
/// result. Several files (a register's newest totals, a split total) go out as one zip, streamed.
/// </summary>
internal sealed class FileDelivery(ServerSettings settings)
{
    public const string ZipType = "application/zip";

    /// <summary>Data files are never rewritten under the same name, so caches may keep them forever.</summary>
    public static string ImmutableCacheControl(ServedRegister register) =>
        (register.Access.IsPublic ? "public" : "private") + ", max-age=31536000, immutable";

    public string ListingCacheControl(ServedRegister? register) =>
        (register is null || register.Access.IsPublic ? "public" : "private") + $", max-age={(long)settings.ListingMaxAge.TotalSeconds}";

    public async Task<IResult> FileAsync(HttpContext context, ServedRegister register, CatalogRow row)
    {
        if (register.Reader.PresignGet(row.Key, settings.PresignLifetime, row.Filename) is { } url)
        {
            // The URL expires; neither the redirect nor its target may be cached beyond that.
            context.Response.Headers.CacheControl = "private, no-store";
            return Results.Redirect(url.AbsoluteUri);
        }

        var read = await register.Reader.ReadAsync(row.Key, ReadConditions.None, context.RequestAborted).ConfigureAwait(false);
        if (read.Outcome != ReadOutcome.Found || read.Content is null)
        {
            // Listed but gone: retention deleted it after the catalog snapshot; the next refresh drops it.
            await read.DisposeAsync().ConfigureAwait(false);
            return Access.Problems.NotFound();
        }

        context.Response.Headers.CacheControl = ImmutableCacheControl(register);
        return Results.Stream(read.Content, ZipType, row.Filename, row.GenerationTime, new EntityTagHeaderValue($"\"{row.Sha256}\""), enableRangeProcessing: true);
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
