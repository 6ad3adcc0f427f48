using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Amazon.Runtime;

namespace BulkExport.Publishing.Tests.Stores.S3;

/// <summary>Hands the SDK an HttpClient over a given handler (fault injection, recording).</summary>
internal sealed class HandlerHttpClientFactory(HttpMessageHandler handler) : HttpClientFactory
{
    public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(handler, disposeHandler: false);

    public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => false;

    public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;
}

/// <summary>Answers the first <c>failures</c> requests matching a predicate with 503 SlowDown, then passes through.</summary>
internal sealed class FaultInjectingHandler(int failures, Func<HttpRequestMessage, bool>? applies = null) : DelegatingHandler(new SocketsHttpHandler())
{
    private readonly int _failures = failures;
    private int _remaining = failures;

    public int Injected => _failures - Math.Max(0, Volatile.Read(ref _remaining));

    public int Requests;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Requests);
        if ((applies is null || applies(request)) && Interlocked.Decrement(ref _remaining) >= 0)
        {
            if (request.Content is not null)
            {
                // Like a real server, take the body before answering.
                await request.Content.CopyToAsync(Stream.Null, cancellationToken);
            }

            return RecordingHandler.Error(HttpStatusCode.ServiceUnavailable, "SlowDown", "Please reduce your request rate.");
        }

        return await base.SendAsync(request, cancellationToken);
    }
}

internal sealed record RecordedRequest(HttpMethod Method, Uri Uri, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string Query => Uri.Query;

    public string Path => Uri.AbsolutePath;

    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var v) ? v : null;

    public string BodyText => Encoding.UTF8.GetString(Body);
}

/// <summary>
/// A fake S3 endpoint in-process: records every request exactly as the SDK sent it (headers and body)
/// and answers with what the test's responder returns. For the S3 features s3rver gets wrong.
/// </summary>
internal sealed class RecordingHandler(Func<RecordedRequest, HttpResponseMessage> respond) : HttpMessageHandler
{
    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var headers = new Dictionary<string, string>();
        foreach (var h in request.Headers)
        {
            headers[h.Key.ToLowerInvariant()] = string.Join(",", h.Value);
        }

        var body = Array.Empty<byte>();
        if (request.Content is not null)
        {
            foreach (var h in request.Content.Headers)
            {
                headers[h.Key.ToLowerInvariant()] = string.Join(",", h.Value);
            }

            body = await request.Content.ReadAsByteArrayAsync(cancellationToken);
        }

        var recorded = new RecordedRequest(request.Method, request.RequestUri!, headers, body);
        Requests.Enqueue(recorded);
        var response = respond(recorded);
        response.RequestMessage = request;
        return response;
    }

    public static HttpResponseMessage Ok(string? xml = null, long? contentLength = null, IDictionary<string, string>? headers = null)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = xml is null ? new ByteArrayContent([]) : new StringContent(xml, Encoding.UTF8, "application/xml"),
        };
        response.Headers.ETag = new System.Net.Http.Headers.EntityTagHeaderValue("\"etag-1\"");
        if (contentLength is { } length)
        {
            response.Content.Headers.ContentLength = length;
        }

        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            response.Headers.TryAddWithoutValidation(name, value);
        }

        return response;
    }

    public static HttpResponseMessage Error(HttpStatusCode status, string code, string message) =>
        new(status)
        {
            Content = new StringContent(
                $"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>r1</RequestId></Error>",
                Encoding.UTF8, "application/xml"),
        };
}
