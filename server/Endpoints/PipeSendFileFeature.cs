using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace BulkExport.Server.Endpoints;

/// <summary>
/// Kestrel has no sendfile(2): its <see cref="IHttpResponseBodyFeature.SendFileAsync"/> reads the file
/// in 64 KiB blocks into a buffer of its own and copies each block again into the response pipe, with
/// a thread-pool hop per block. This reads straight into the response pipe's memory in large blocks
/// (one copy fewer, one flush per block), and leaves every other part of the response to Kestrel.
/// ASP.NET's file result still decides Range, 304 and 412; only the byte pump is replaced.
/// </summary>
internal sealed class PipeSendFileFeature(IHttpResponseBodyFeature inner) : IHttpResponseBodyFeature
{
    /// <summary>
    /// Bytes read and sent per step. Large enough that the per-step cost (a read, a flush, a send)
    /// vanishes against the copying; small enough that 16 concurrent downloads hold a few MiB.
    /// </summary>
    internal const int BlockSize = 256 * 1024;

    public Stream Stream => inner.Stream;

    public PipeWriter Writer => inner.Writer;

    public void DisableBuffering() => inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

    public Task CompleteAsync() => inner.CompleteAsync();

    public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
    {
        // Synchronous reads: the files are page-cache hot in the common case, and on Unix an "asynchronous"
        // file read is this same pread(2) run on another thread-pool thread (nginx blocks its worker too).
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        var length = RandomAccess.GetLength(handle);
        if (offset < 0 || offset > length || (count is { } c && (c < 0 || c > length - offset)))
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"{path}: range {offset}+{count} outside a file of {length} bytes");
        }

        var remaining = count ?? (length - offset);
        var writer = inner.Writer;
        while (remaining > 0)
        {
            var memory = writer.GetMemory((int)Math.Min(BlockSize, remaining));
            var want = (int)Math.Min(memory.Length, remaining);
            var read = RandomAccess.Read(handle, memory.Span[..want], offset);
            if (read == 0)
            {
                // The file shrank under us (names are never reused, so this is damage, not a new version):
                // fail the response rather than send a short body under a full Content-Length.
                throw new IOException($"{path}: ended at byte {offset}, {remaining} bytes before the end the response announced");
            }

            writer.Advance(read);
            offset += read;
            remaining -= read;
            var flushed = await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flushed.IsCanceled || flushed.IsCompleted)
            {
                // The client went away: nothing more to send.
                return;
            }
        }
    }
}
