namespace BulkExport.Operator.Tests.Support;

/// <summary>A clock tests move by hand (the Microsoft.Extensions.TimeProvider.Testing package is not available here).</summary>
internal sealed class FakeTimeProvider(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
