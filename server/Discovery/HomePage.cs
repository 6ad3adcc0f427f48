using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using BulkExport.Publishing.Layout;
using BulkExport.Server.Endpoints;
using BulkExport.Server.Registers;

namespace BulkExport.Server.Discovery;

/// <summary>The page for people: registers → entities → newest totals with size, date and checksum, and how to mirror.</summary>
internal static class HomePage
{
    private const string Style = """
        body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24;line-height:1.45}
        h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:2px solid #d0d7de;padding-bottom:.3rem}h3{margin:1.4rem 0 .4rem}
        table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e5e8eb;vertical-align:top}
        th{background:#f6f8fa}td.num{text-align:right;white-space:nowrap}code{font-size:.8rem;word-break:break-all}
        pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;font-size:.85rem}.meta{color:#57606a;font-size:.9rem}nav a{margin-right:1rem}
        """;

    public static string Render(IReadOnlyList<ServedRegister> registers, string baseUrl)
    {
        var html = HtmlEncoder.Default;
        var page = new StringBuilder();
        page.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">")
            .Append("<title>Bulk downloads</title><style>").Append(Style).Append("</style></head><body>")
            .Append("<h1>Bulk downloads</h1>")
            .Append("<nav><a href=\"/data.json\">data.json</a><a href=\"/openapi/v1.json\">OpenAPI</a><a href=\"/FileDownloads/GetAvailableFileDownloads\">All files (JSON)</a></nav>");
        if (registers.Count == 0)
        {
            page.Append("<p>No register is visible without credentials.</p>");
        }

        foreach (var register in registers)
        {
            var snapshot = register.Snapshot;
            var code = html.Encode(register.Code);
            page.Append(CultureInfo.InvariantCulture, $"<section id=\"{code}\"><h2>{code}</h2><p class=\"meta\">")
                .Append(snapshot.Generations.Count == 0
                    ? "Nothing published yet."
                    : FormattableString.Invariant($"Newest generation {snapshot.Generations[0].Generation}, {Date(snapshot.Generations[0].GenerationTime)}; {snapshot.Rows.Count} files available."))
                .Append(CultureInfo.InvariantCulture, $" <a href=\"{html.Encode(Links.Feed(register.Code))}\">Atom feed</a></p>");
            var totals = snapshot.NewestTotals(version: null);
            foreach (var entity in snapshot.Entities)
            {
                page.Append(CultureInfo.InvariantCulture, $"<h3>{html.Encode(entity)}</h3><table><thead><tr><th>Newest total</th><th>Type of data</th><th>Format</th><th>Generation</th><th>Size</th><th>Generated</th><th>SHA-256</th></tr></thead><tbody>");
                foreach (var row in totals.Where(r => r.EntityName == entity))
                {
                    page.Append(CultureInfo.InvariantCulture, $"<tr><td><a href=\"{html.Encode(Links.File(row.Filename))}\">{html.Encode(row.Filename)}</a></td>")
                        .Append(CultureInfo.InvariantCulture, $"<td>{html.Encode(row.TypeOfData)}</td><td>{html.Encode(row.ContainedFileFormat)}</td><td class=\"num\">{row.GenerationNumber}</td>")
                        .Append(CultureInfo.InvariantCulture, $"<td class=\"num\">{Size(row.SizeBytes)}</td><td>{Date(row.GenerationTime)}</td><td><code>{html.Encode(row.Sha256)}</code></td></tr>");
                }

                page.Append("</tbody></table>");
            }

            page.Append("</section>");
        }

        var example = registers.Select(r => r.Snapshot.NewestTotals(null).FirstOrDefault()).FirstOrDefault(r => r is not null);
        var server = html.Encode(baseUrl);
        page.Append("<h2>How to mirror</h2><ol>")
            .Append("<li>List what is available: <pre>curl -s '").Append(server).Append("/FileDownloads/GetAvailableFileDownloads?Register=")
            .Append(html.Encode(registers.FirstOrDefault()?.Code ?? "DAR")).Append("'</pre></li>")
            .Append("<li>Fetch the newest total of an entity (a stable URL that redirects to the current file) and note its <code>GenerationNumber</code>:<pre>curl -LOJ '")
            .Append(server).Append(example is null ? "/registers/DAR/latest/Adresse/Current/JSON" : html.Encode(Links.Latest(example))).Append("'</pre></li>")
            .Append("<li>Check it: the file's SHA-256 is in the listing (<code>Sha256</code>) and is the download's <code>ETag</code>.</li>")
            .Append("<li>Then apply every delta (<code>TypeOfDownload</code> = DeltaDownload) with a higher generation, in order; each delta's <code>BaseGenerationNumber</code> must be the generation you hold. Numbers can have gaps.</li>")
            .Append("<li>Poll the register's Atom feed, or repeat the listing with <code>If-None-Match</code>: a 304 means nothing changed. Interrupted downloads resume with <code>curl -C -</code> (Range).</li>")
            .Append("<li>Protected registers take an API key as <code>Authorization: &lt;key&gt;</code> or a service user with HTTP Basic (<code>curl -u name:password</code>).</li>")
            .Append("</ol></body></html>");
        return page.ToString();
    }

    private static string Date(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    private static string Size(long bytes) => bytes switch
    {
        < 1024 => FormattableString.Invariant($"{bytes} B"),
        < 1024 * 1024 => FormattableString.Invariant($"{bytes / 1024.0:0.0} KiB"),
        < 1024L * 1024 * 1024 => FormattableString.Invariant($"{bytes / 1024.0 / 1024:0.0} MiB"),
        _ => FormattableString.Invariant($"{bytes / 1024.0 / 1024 / 1024:0.00} GiB"),
    };
}
