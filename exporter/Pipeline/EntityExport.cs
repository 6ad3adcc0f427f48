using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using BulkExport.Api;
using BulkExport.Exporter.Formats;
using BulkExport.Publishing.Layout;
using BulkExport.Publishing.Ledger;
using BulkExport.Publishing.Verification;
using BulkExport.Exporter.Sources;
using BulkExport.Publishing.Stores;
using BulkExport.Exporter.Rows;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BulkExport.Exporter.Pipeline;

/// <summary>What one run knows while it exports the entities of one generation.</summary>
internal sealed record GenerationContext(
    ExportSchedule Schedule,
    long Generation,
    bool IsTotal,
    DateTimeOffset PointInTime,
    GenerationManifest? Base,
    IReadOnlyDictionary<string, List<ManifestFile>> LastTotals,
    string TempDirectory,
    IObjectStore Store,
    IExportProgress Progress)
{
    public string Register => Schedule.Spec.Register;

    public int Version => Schedule.Spec.Version;

    /// <summary>The formats <c>spec.output.formats</c> names are resolved in; a new format registers there.</summary>
    public OutputFormatRegistry Formats { get; init; } = OutputFormatRegistry.Default;

    public ILogger Logger { get; init; } = NullLogger.Instance;
}

internal sealed record EntityOutcome(ManifestEntity Entity, List<ManifestFile> Files, long Bytes, long DeltaRecords);

/// <summary>
/// Reads one entity once and writes everything the generation needs from it: totals in every
/// format × type of data (total runs), the delta against the base generation, and the new delta state.
/// </summary>
internal sealed class EntityExport(GenerationContext context, EntitySpec entity)
{
    public const string OperationColumn = "operation";

    // Batches are typed and reused (RowBatch), so rows in flight no longer cost the GC anything per
    // row: 1024 rows a batch, 4 in each channel, one per stage in hand, one spare.
    private const int BatchSize = 1024;
    private const int BatchesInFlight = 4;
    private const int BatchCount = (2 * BatchesInFlight) + 4;

    public async Task<EntityOutcome> RunAsync(ISourceSnapshot snapshot, CancellationToken cancellationToken)
    {
        // changeDetection xmin: a delta asks the source for the rows written since the base state's watermark;
        // every run that writes a state asks for a watermark to record.
        var trackChanges = ChangeDetectionModes.IsXmin(entity) && entity.Temporal is null;
        // The base state's copy and checksum need nothing the reader decides, so they run while the source opens
        // (a CSV file's key-order scan reads the whole file before the first row flows); only a changed-rows delta
        // waits for them first, because its read needs the base's watermark.
        var loading = Task.Run(() => DeltaBase.LoadAsync(context, entity, cancellationToken), cancellationToken);
        try
        {
            byte[]? changedSince = null;
            if (trackChanges && !context.IsTotal)
            {
                var deltaBase = await loading.ConfigureAwait(false);
                changedSince = deltaBase.Watermark;
                if (changedSince is null && deltaBase.HasState)
                {
                    context.Logger.BaseWithoutWatermark(entity.Name);
                }
            }

            // Rows in identity order let the delta merge as they come; sources that cannot sort say so.
            var request = new ReadRequest(SortByKey: true) { TrackChanges = trackChanges, ChangedSince = changedSince };
            try
            {
                return await RunAsync(snapshot, loading, request, cancellationToken).ConfigureAwait(false);
            }
            catch (ChangedRowsAbandonedException e)
            {
                // Simple and safe: everything of the first attempt was scratch, and the snapshot is the same.
                context.Logger.ChangedRowsAbandoned(entity.Name, e.Message);
                return await RunAsync(snapshot, loading, request with { ChangedSince = null }, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await DisposeAsync(loading).ConfigureAwait(false);
        }
    }

    /// <summary>The base state's local copy, whether or not a run took it; a failed load's error is the run's already.</summary>
    private static async Task DisposeAsync(Task<DeltaBase> loading)
    {
        try
        {
            (await loading.ConfigureAwait(false)).Dispose();
        }
        catch (Exception)
        {
            // The run awaited the load and failed with its error, or failed first with the error that brought it here.
        }
    }

    private async Task<EntityOutcome> RunAsync(ISourceSnapshot snapshot, Task<DeltaBase> loading, ReadRequest request, CancellationToken cancellationToken)
    {
        var temporal = entity.Temporal is not null;
        await using var reader = await snapshot.ReadAsync(entity, request, cancellationToken).ConfigureAwait(false);
        var tracking = reader as IChangeTrackingReader;
        var layout = EntityLayout.Resolve(entity, reader.Columns);
        var writers = new OutputWriters(context, entity, layout);
        try
        {
            var sorted = reader is IRowReaderOrdering { IsSortedByKey: true };
            var deltaBase = await loading.ConfigureAwait(false);
            using var delta = EntityDelta.Open(context, entity, layout, writers, deltaBase, sorted, request.TrackChanges ? tracking?.Watermark : null);
            var records = await PumpAsync(reader, layout, writers, delta, tracking is { ChangedRowsOnly: true } ? tracking : null, cancellationToken).ConfigureAwait(false);
            var state = await delta.CompleteAsync(cancellationToken).ConfigureAwait(false);
            var (files, bytes) = await writers.PublishAsync(cancellationToken).ConfigureAwait(false);
            var manifestEntity = new ManifestEntity
            {
                Name = entity.Name,
                Temporal = temporal,
                Records = records,
                State = state,
                Identity = [.. EntityIdentity.Columns(entity)],
                Fingerprint = delta.Fingerprint.ToHex(),
                Rebase = delta.Rebase ? true : null,
            };
            context.Progress.EntityFinished(entity.Name, records, bytes, files.Count);
            return new EntityOutcome(manifestEntity, files, bytes, writers.DeltaRecords);
        }
        finally
        {
            writers.Dispose();
        }
    }

    /// <summary>A batch of rows with the digests of those the delta stage passed on (32 bytes each, by row).</summary>
    private sealed class PipelineBatch(IReadOnlyList<Column> columns)
    {
        public RowBatch Rows { get; } = new(columns, BatchSize);

        public byte[] Digests { get; } = new byte[BatchSize * RowDigest.Length];

        /// <summary>Rows of <see cref="Rows"/> in this generation's state, in order; the first <see cref="PassedCount"/> are valid.</summary>
        public int[] Passed { get; } = new int[BatchSize];

        public int PassedCount { get; set; }

        /// <summary>Per row, written since the base's watermark (a changed-rows read only).</summary>
        public bool[] Changed { get; } = new bool[BatchSize];
    }

    /// <summary>
    /// Three stages overlap: the source fills typed batches on one thread; the delta stage checks each
    /// row, computes its digest once (row hash and fingerprint term), and feeds the delta; the totals
    /// stage writes the rows the delta stage passed on, with their digests, and hands the batch back
    /// to the source. A batch is in one stage at a time.
    /// </summary>
    /// <param name="changedRows">A changed-rows read: rows it says are unchanged carry only their key and keep the base's digest.</param>
    private async Task<long> PumpAsync(IRowReader reader, EntityLayout layout, OutputWriters writers, EntityDelta delta, IChangeTrackingReader? changedRows, CancellationToken cancellationToken)
    {
        var options = new BoundedChannelOptions(BatchesInFlight) { SingleReader = true, SingleWriter = true };
        var read = Channel.CreateBounded<PipelineBatch>(options);
        var totals = Channel.CreateBounded<PipelineBatch>(options);
        var free = Channel.CreateUnbounded<PipelineBatch>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        for (var i = 0; i < BatchCount; i++)
        {
            free.Writer.TryWrite(new PipelineBatch(layout.Columns));
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pointInTime = context.PointInTime;
        long records = 0;

        // The source's stage runs on a thread of its own, waiting synchronously: the raw COPY reader reads
        // tuples with blocking socket reads (RawCopyRowReader), which on a pool thread took one of the two a
        // 2-core machine starts with away from the delta and totals stages for the whole read.
        var produce = OnOwnThread("bulkexport-read", () =>
        {
            try
            {
                while (true)
                {
                    var batch = Wait(free.Reader.ReadAsync(cts.Token));
                    batch.Rows.Clear();
                    batch.PassedCount = 0;
                    if (!Wait(reader.FillAsync(batch.Rows, cts.Token)))
                    {
                        break;
                    }

                    if (changedRows is not null)
                    {
                        // The flags are the reader's until its next fill: they travel with the batch.
                        for (var r = 0; r < batch.Rows.Count; r++)
                        {
                            batch.Changed[r] = changedRows.IsChanged(r);
                        }
                    }

                    // Read before the hand-off: once written, the batch belongs to the next stages, and
                    // the totals stage clears it when done, so a full batch read afterwards can look
                    // short and end the read early, publishing the unread rows as deletes.
                    var full = batch.Rows.IsFull;
                    Wait(read.Writer.WriteAsync(batch, cts.Token));
                    if (!full)
                    {
                        // A reader stops short of a full batch only at the end of its rows.
                        break;
                    }
                }

                read.Writer.Complete();
            }
            catch (RowValueException e)
            {
                read.Writer.TryComplete(new SourceException($"entity {entity.Name}: {e.Message} Nothing was published.", transient: false, e));
            }
            catch (Exception e)
            {
                read.Writer.TryComplete(e);
            }
        });

        var computeDelta = Task.Run(async () =>
        {
            try
            {
                using var digest = new RowDigest(layout.Columns);
                await foreach (var batch in read.Reader.ReadAllAsync(cts.Token).ConfigureAwait(false))
                {
                    for (var r = 0; r < batch.Rows.Count; r++)
                    {
                        var row = batch.Rows.View(r);
                        if (changedRows is not null && !batch.Changed[r])
                        {
                            // Not written since the base: its key only; no digest, no output (a delta run writes no totals).
                            if (!delta.TryKeepUnchanged(row))
                            {
                                throw new ChangedRowsAbandonedException($"key ({layout.KeyText(row)}) was read as unchanged but is not in the base state (made visible by a policy or privilege change, or the base is not this table's)");
                            }

                            records++;
                            continue;
                        }

                        if (layout.Temporal is { } t)
                        {
                            var registrationFrom = Instant(row, t.RegistrationFrom, layout, entity)
                                ?? throw new SourceException($"entity {entity.Name}, key ({layout.KeyText(row)}): registration start '{layout.Columns[t.RegistrationFrom].Name}' is NULL; a temporal row needs one (it is part of the identity and of the published primary key); nothing was published", transient: false);
                            if (row.IsNull(t.EffectiveFrom))
                            {
                                // Same rule as the registration start: the Bitemporal DDL's primary key holds it, and
                                // PostgreSQL refuses NULL in a primary key column, so such a total would not load.
                                throw new SourceException($"entity {entity.Name}, key ({layout.KeyText(row)}): effect start '{layout.Columns[t.EffectiveFrom].Name}' is NULL; a temporal row needs one (it is part of the identity and of the published primary key); nothing was published", transient: false);
                            }

                            if (registrationFrom > pointInTime)
                            {
                                // Registered after the snapshot's point in time: not part of this generation's
                                // state, so it reaches the delta of the first generation whose point in time it precedes.
                                continue;
                            }
                        }

                        var rowDigest = batch.Digests.AsSpan(r * RowDigest.Length, RowDigest.Length);
                        digest.Compute(row, rowDigest);
                        batch.Passed[batch.PassedCount++] = r;
                        records++;
                        writers.CurrentRowDigest = digest;
                        delta.Add(row, rowDigest);
                        writers.CurrentRowDigest = null;
                    }

                    await totals.Writer.WriteAsync(batch, cts.Token).ConfigureAwait(false);
                    context.Progress.EntityProgress(entity.Name, records, writers.UncompressedBytes);
                }

                totals.Writer.Complete();
            }
            catch (Exception e)
            {
                totals.Writer.TryComplete(e);
                throw;
            }
        }, cts.Token);

        var writeTotals = Task.Run(async () =>
        {
            await foreach (var batch in totals.Reader.ReadAllAsync(cts.Token).ConfigureAwait(false))
            {
                for (var i = 0; i < batch.PassedCount; i++)
                {
                    var r = batch.Passed[i];
                    writers.WriteTotal(batch.Rows.View(r), layout, pointInTime, batch.Digests.AsSpan(r * RowDigest.Length, RowDigest.Length));
                }

                // Emptied before it waits in the pool: its boxed values (geometry, arrays) would otherwise
                // stay referenced from a long-lived batch and be promoted by the GC (+30 MB RSS on 1M points).
                batch.Rows.Clear();
                free.Writer.TryWrite(batch);
            }
        }, cts.Token);

        var stages = new[] { produce, computeDelta, writeTotals };
        try
        {
            // The first failure stops the other stages instead of leaving them blocked on a full channel.
            while (stages.Where(s => !s.IsCompleted).ToList() is { Count: > 0 } pending)
            {
                var finished = await Task.WhenAny(pending).ConfigureAwait(false);
                if (finished.IsFaulted || finished.IsCanceled)
                {
                    await cts.CancelAsync().ConfigureAwait(false);
                    break;
                }
            }

            await Task.WhenAll(stages).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // A stage failed and the others were cancelled: surface the real failure.
            var failure = stages.FirstOrDefault(s => s.IsFaulted)?.Exception?.InnerException;
            if (failure is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
            }

            throw;
        }

        return records;
    }

    /// <summary>Runs <paramref name="body"/> on a new background thread; the task ends with it.</summary>
    private static Task OnOwnThread(string name, Action body)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                body();
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        { IsBackground = true, Name = name };
        thread.Start();
        return done.Task;
    }

    // Blocking waits for the source's own thread; most calls have completed synchronously (no Task made).
    private static T Wait<T>(ValueTask<T> task) => task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();

    private static void Wait(ValueTask task)
    {
        if (!task.IsCompletedSuccessfully)
        {
            task.AsTask().GetAwaiter().GetResult();
        }
    }

    internal static DateTimeOffset? Instant(IRowView row, int index, EntityLayout layout, EntitySpec entity)
    {
        if (row.IsNull(index))
        {
            return null;
        }

        if (row is ObjectRowView boxed)
        {
            return boxed.GetValue(index) switch
            {
                DateTimeOffset dto => dto,
                DateTime dt => new DateTimeOffset(DateTime.SpecifyKind(dt, DateTimeKind.Utc)),
                var other => throw new SourceException($"entity {entity.Name}, key ({layout.KeyText(row)}): temporal column '{layout.Columns[index].Name}' holds {other!.GetType().Name}, not a timestamp", transient: false),
            };
        }

        // EntityLayout.Resolve checked that temporal columns are timestamps.
        return layout.Columns[index].Kind == ColumnKind.TimestampTz
            ? row.GetTimestampTz(index)
            : new DateTimeOffset(DateTime.SpecifyKind(row.GetTimestamp(index), DateTimeKind.Utc));
    }
}

/// <summary>Where the key, identity, temporal and geometry columns of an entity are in its rows.</summary>
internal sealed record EntityLayout(IReadOnlyList<Column> Columns, int[] KeyIndexes, int[] IdentityIndexes, TemporalIndexes? Temporal, int? GeometryIndex)
{
    public bool HasGeometry => GeometryIndex is not null;

    /// <summary>The row's key as <c>col=value, …</c>, for error messages.</summary>
    public string KeyText(IRowView row) => string.Join(", ", KeyIndexes.Select(i => $"{Columns[i].Name}={KeyEncoder.Describe(row.IsNull(i) ? null : row.GetValue(i))}"));

    public static EntityLayout Resolve(EntitySpec entity, IReadOnlyList<Column> columns)
    {
        int IndexOf(string column, string role)
        {
            for (var i = 0; i < columns.Count; i++)
            {
                if (string.Equals(columns[i].Name, column, StringComparison.Ordinal))
                {
                    return i;
                }
            }

            throw new SourceException($"entity {entity.Name}: {role} column '{column}' is not among the source's columns ({string.Join(", ", columns.Select(c => c.Name))})", transient: false);
        }

        if (columns.Any(c => string.Equals(c.Name, EntityExport.OperationColumn, StringComparison.Ordinal)))
        {
            throw new SourceException($"entity {entity.Name}: has a column named '{EntityExport.OperationColumn}', which deltas use for the change operation; rename it in the source or query", transient: false);
        }

        var keys = entity.Key.Select(k => IndexOf(k, "key")).ToArray();
        foreach (var k in keys.Where(k => !KeyEncoder.CanEncode(columns[k].Kind)))
        {
            throw new SourceException($"entity {entity.Name}: spec.entities[].key: column '{columns[k].Name}' is {columns[k].Kind}, which cannot be a key (values of that kind have no exact equality); choose key columns of another kind", transient: false);
        }

        TemporalIndexes? temporal = null;
        if (entity.Temporal is { } t)
        {
            int TimeColumn(string column, string role)
            {
                var index = IndexOf(column, role);
                return columns[index].Kind is ColumnKind.TimestampTz or ColumnKind.Timestamp
                    ? index
                    : throw new SourceException($"entity {entity.Name}: spec.entities[].{role}: column '{column}' is {columns[index].Kind}, not a timestamp", transient: false);
            }

            temporal = new TemporalIndexes(TimeColumn(t.RegistrationFrom, "temporal.registrationFrom"), TimeColumn(t.RegistrationTo, "temporal.registrationTo"), TimeColumn(t.EffectiveFrom, "temporal.effectiveFrom"), TimeColumn(t.EffectiveTo, "temporal.effectiveTo"));
        }

        int[] identity = temporal is null ? keys : [.. keys, temporal.RegistrationFrom, temporal.EffectiveFrom];
        int? geometry = null;
        if (entity.Geometry is { } g)
        {
            var index = IndexOf(g.Column, "geometry");
            geometry = index;
            if (columns[index].Kind != ColumnKind.Geometry)
            {
                throw new SourceException($"entity {entity.Name}: geometry column '{g.Column}' is {columns[index].Kind}, not a geometry", transient: false);
            }
        }

        return new EntityLayout(columns, keys, identity, temporal, geometry);
    }
}

internal sealed record TemporalIndexes(int RegistrationFrom, int RegistrationTo, int EffectiveFrom, int EffectiveTo);
