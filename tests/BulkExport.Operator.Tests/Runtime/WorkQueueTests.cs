using BulkExport.Operator.Runtime;

namespace BulkExport.Operator.Tests.Runtime;

public sealed class WorkQueueTests
{
    [Fact]
    public async Task A_key_added_many_times_is_taken_once()
    {
        var queue = new WorkQueue(TimeProvider.System);
        queue.Add("a");
        queue.Add("a");
        queue.Add("b");

        Assert.Equal("a", await queue.TakeAsync(default));
        Assert.Equal("b", await queue.TakeAsync(default));
        Assert.Equal(0, queue.Depth);
    }

    [Fact]
    public async Task A_key_added_while_it_is_processed_is_taken_again_after_done_and_not_before()
    {
        var queue = new WorkQueue(TimeProvider.System);
        queue.Add("a");
        var key = await queue.TakeAsync(default);
        queue.Add("a");

        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await queue.TakeAsync(cts.Token));

        queue.Done(key);
        Assert.Equal("a", await queue.TakeAsync(default));
    }
}
