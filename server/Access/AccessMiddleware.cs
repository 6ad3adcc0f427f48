using System.Diagnostics;
using BulkExport.Server.Registers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BulkExport.Server.Access;

/// <summary>Who may see what: a public register is open to all; a restricted one to a caller whose credential grants it, by a method the register accepts.</summary>
internal static class AccessPolicy
{
    public const string Challenge = "Basic realm=\"BulkExport\", charset=\"UTF-8\"";

    public static Caller CallerOf(HttpContext context) => context.Items[typeof(Caller)] as Caller ?? Caller.Anonymous;

    public static bool CanRead(Caller caller, ServedRegister register) =>
        register.Access.IsPublic
        || (caller.Method switch
        {
            AuthMethod.ApiKey => register.Access.ApiKeys,
            AuthMethod.Basic => register.Access.Basic,
            _ => false,
        } && caller.Grants.Includes(register.Code));

    /// <summary>
    /// The answer for something the caller may not see: 401 to an anonymous caller where credentials could
    /// help, else 404, so that neither says whether the thing exists.
    /// </summary>
    public static IResult Hidden(HttpContext context, ServedRegisters registers) =>
        CallerOf(context).IsAnonymous && registers.AnyRestricted ? Unauthorized(context) : Problems.NotFound();

    public static IResult Unauthorized(HttpContext context)
    {
        context.Response.Headers.WWWAuthenticate = Challenge;
        // One text for every case: no hint whether the name, the password or the key was wrong.
        return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized", detail: "A valid credential is required.");
    }
}

/// <summary>Resolves the Authorization header to a <see cref="Caller"/>; a wrong credential ends the request with 401.</summary>
internal sealed class AccessMiddleware(RequestDelegate next, CredentialStore credentials)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var headers = context.Request.Headers.Authorization;
        var caller = headers.Count > 1 ? null : credentials.Authenticate(headers.ToString());
        if (caller is null)
        {
            context.Items[AccessLogMiddleware.RejectedKey] = true;
            await AccessPolicy.Unauthorized(context).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        context.Items[typeof(Caller)] = caller;
        await next(context).ConfigureAwait(false);
    }
}

/// <summary>One line per request naming the caller's key id or user, never a secret.</summary>
internal sealed partial class AccessLogMiddleware(RequestDelegate next, ILogger<AccessLogMiddleware> logger)
{
    public const string RejectedKey = "bulkexport.rejected";

    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            var caller = context.Items.ContainsKey(RejectedKey) ? "rejected-credential" : AccessPolicy.CallerOf(context).Id;
            Request(context.Request.Method, context.Request.Path + context.Request.QueryString, context.Response.StatusCode,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds, caller, context.Connection.RemoteIpAddress?.ToString() ?? "-");
        }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "{Method} {Target} {Status} {Milliseconds:0.0}ms caller={Caller} remote={Remote}")]
    private partial void Request(string method, string target, int status, double milliseconds, string caller, string remote);
}

internal static class Problems
{
    public static IResult BadRequest(string detail) => Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad Request", detail: detail);

    public static IResult NotFound(string detail = "No such file or register.") => Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not Found", detail: detail);
}
