using System.Threading.Channels;

namespace BulkExport.Operator.Runtime;

/// <summary>
/// A deduplicating work queue keyed by namespace/name, like client-go's: a key queued many times
/// is processed once, never by two workers at the same time, and once more if it changed meanwhile.
/// </summary>
internal sealed class WorkQueue
{
    private readonly Channel<string> _ready = Channel.CreateUnbounded<string>();
    private readonly HashSet<string> _dirty = [];
    private readonly HashSet<string> _processing = [];
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;

    public WorkQueue(TimeProvider time) => _time = time;

    public int Depth
    {
        get
        {
            lock (_lock)
            {
                return _dirty.Count;
            }
        }
    }

    public void Add(string key)
    {
        lock (_lock)
        {
            if (!_dirty.Add(key) || _processing.Contains(key))
            {
                return;
            }
        }

        _ready.Writer.TryWrite(key);
    }

    public void AddAfter(string key, TimeSpan delay, CancellationToken ct)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }

        _ = Task.Delay(delay, _time, ct).ContinueWith(t =>
        {
            if (!t.IsCanceled)
            {
                Add(key);
            }
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public async ValueTask<string> TakeAsync(CancellationToken ct)
    {
        while (true)
        {
            var key = await _ready.Reader.ReadAsync(ct).ConfigureAwait(false);
            lock (_lock)
            {
                if (_dirty.Remove(key))
                {
                    _processing.Add(key);
                    return key;
                }
            }
        }
    }

    public void Done(string key)
    {
        lock (_lock)
        {
            _processing.Remove(key);
            if (!_dirty.Contains(key))
            {
                return;
            }
        }

        _ready.Writer.TryWrite(key);
    }
}
