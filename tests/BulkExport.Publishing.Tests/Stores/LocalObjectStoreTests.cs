using System.Text;
using BulkExport.Publishing.Stores;

namespace BulkExport.Publishing.Tests.Stores;

public sealed class LocalObjectStoreTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("store-").FullName;

    [Fact]
    public async Task TryCreate_UnderContention_HasExactlyOneWinner_AndKeepsTheWinnersContent()
    {
        var store = new LocalObjectStore(_root);
        for (var round = 0; round < 300; round++)
        {
            var key = $"DAR/generations/{round:D10}.claim";
            var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Task.Run(() => store.TryCreateAsync(key, Encoding.UTF8.GetBytes($"writer {i}"), CancellationToken.None))));

            Assert.Equal(1, results.Count(r => r));
            var winner = Array.IndexOf(results, true);
            Assert.Equal($"writer {winner}", Encoding.UTF8.GetString((await store.GetBytesAsync(key, CancellationToken.None))!));
        }

        Assert.Empty(Directory.EnumerateFiles(_root, "*.tmp-*", SearchOption.AllDirectories));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
