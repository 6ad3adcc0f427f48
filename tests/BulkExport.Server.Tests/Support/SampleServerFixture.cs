using BulkExport.Publishing.Stores;
using BulkExport.Server.Configuration;

namespace BulkExport.Server.Tests.Support;

/// <summary>The sample register DAR published to a directory and served publicly, shared by a test class.</summary>
public sealed class SampleServerFixture : IAsyncLifetime
{
    private readonly TempDirectory _root = new();

    internal PublishedLayout Layout { get; private set; } = null!;

    internal TestServer Server { get; private set; } = null!;

    public HttpClient Client => Server.Client;

    public async Task InitializeAsync()
    {
        Layout = await PublishedLayout.SampleAsync(new LocalObjectStore(_root.Path));
        Server = await TestServer.StartAsync([TestServer.LocalSchedule("DAR", _root.Path)], new ServerSettings { FeedPageSize = 2 });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        _root.Dispose();
    }
}
