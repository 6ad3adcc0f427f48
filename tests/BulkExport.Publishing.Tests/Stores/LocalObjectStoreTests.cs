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

    [Fact]
    public async Task PutFile_ThenTheCallerDeletesItsFile_ObjectKeepsTheBytes_ModifiedAtThePut_NoTempLeft()
    {
        var store = new LocalObjectStore(_root);
        var staged = Path.Combine(_root, "staged.zip");
        await File.WriteAllBytesAsync(staged, Encoding.ASCII.GetBytes("zip bytes"));
        File.SetLastWriteTimeUtc(staged, new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        var before = DateTime.UtcNow.AddSeconds(-1);

        await store.PutFileAsync("DAR/V1/E/data.zip", staged, "ignored", "application/zip", CancellationToken.None);
        File.Delete(staged);

        Assert.Equal("zip bytes", Encoding.ASCII.GetString((await store.GetBytesAsync("DAR/V1/E/data.zip", CancellationToken.None))!));
        Assert.True(File.GetLastWriteTimeUtc(store.FilePath("DAR/V1/E/data.zip")) >= before);
        Assert.Empty(Directory.EnumerateFiles(_root, "*.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Copy_ThenReplacingTheSource_LeavesTheCopyAsCopied_AndTheSourcesModificationTimeAsItWas()
    {
        var store = new LocalObjectStore(_root);
        await store.PutBytesAsync("DAR/V1/E/a.zip", Encoding.ASCII.GetBytes("first"), "application/zip", CancellationToken.None);
        var sourcePath = store.FilePath("DAR/V1/E/a.zip");
        var old = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(sourcePath, old);

        await store.CopyAsync("DAR/V1/E/a.zip", "DAR/V1/E/b.zip", CancellationToken.None);

        // The source's ETag (size and modification time) stays; the copy is its own, new object.
        Assert.Equal(old, File.GetLastWriteTimeUtc(sourcePath));
        Assert.True(File.GetLastWriteTimeUtc(store.FilePath("DAR/V1/E/b.zip")) > old);
        await store.PutBytesAsync("DAR/V1/E/a.zip", Encoding.ASCII.GetBytes("second"), "application/zip", CancellationToken.None);
        Assert.Equal("first", Encoding.ASCII.GetString((await store.GetBytesAsync("DAR/V1/E/b.zip", CancellationToken.None))!));
        Assert.Empty(Directory.EnumerateFiles(_root, "*.tmp-*", SearchOption.AllDirectories));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
