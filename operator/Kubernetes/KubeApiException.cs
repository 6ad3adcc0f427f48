using System.Net;
using System.Text.Json.Nodes;

namespace BulkExport.Operator.Kubernetes;

/// <summary>A non-success answer from the API server, carrying its <c>Status</c> reason and message.</summary>
internal sealed class KubeApiException(HttpStatusCode statusCode, string reason, string message)
    : Exception($"{(int)statusCode} {reason}: {message}")
{
    public HttpStatusCode StatusCode { get; } = statusCode;
    public string Reason { get; } = reason;
    public string ApiMessage { get; } = message;

    public bool IsNotFound => StatusCode == HttpStatusCode.NotFound;
    public bool IsConflict => StatusCode == HttpStatusCode.Conflict && Reason != "AlreadyExists";
    public bool IsAlreadyExists => StatusCode == HttpStatusCode.Conflict && Reason == "AlreadyExists";
    public bool IsGone => StatusCode == HttpStatusCode.Gone || Reason == "Expired";

    /// <summary>Transient answers worth retrying with backoff rather than surfacing.</summary>
    public bool IsTransient => StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable
        or HttpStatusCode.GatewayTimeout or HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway;

    public static KubeApiException FromStatus(HttpStatusCode code, JsonNode? status) =>
        new(code,
            (string?)status?["reason"] ?? code.ToString(),
            (string?)status?["message"] ?? "");
}
