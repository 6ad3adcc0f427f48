using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using BulkExport.Exporter.Pipeline;
using BulkExport.Exporter.Sources;
using Xunit.Abstractions;
using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Tests.Pipeline;

/// <summary>
/// What the fingerprint costs per million rows of the bench entity's shape: the row digest over the
/// canonical bytes (which serves as both row hash and fingerprint term) against the row hash it
/// replaced (SHA-256 of the RowCodec bytes), measured in the same run, best of three. Runs only when
/// <c>BULKEXPORT_BENCH_ROWS</c> is set, e.g. <c>BULKEXPORT_BENCH_ROWS=1000000 dotnet test -c Release
/// --filter RowDigestBench --logger "console;verbosity=detailed"</c>.
/// </summary>
public sealed class RowDigestBench(ITestOutputHelper output)
{
    private static readonly Column[] Columns =
    [
        new("id", ColumnKind.Integer), new("name", ColumnKind.Text), new("amount", ColumnKind.Decimal), new("changed", ColumnKind.TimestampTz),
        new("day", ColumnKind.Date), new("active", ColumnKind.Boolean), new("ref", ColumnKind.Uuid), new("doc", ColumnKind.Json),
        new("score", ColumnKind.Float), new("tags", ColumnKind.Array, ColumnKind.Integer),
    ];

    [Fact]
    public void RowDigestBench_CanonicalDigest_AgainstTheRowCodecHash()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("BULKEXPORT_BENCH_ROWS"), CultureInfo.InvariantCulture, out var n) || n <= 0)
        {
            return;
        }

        var rows = Enumerable.Range(1, Math.Min(n, 100_000)).Select(i => new object?[]
        {
            (long)i, $"name-{i}{new string('x', i % 20)}", new DecimalText((i * 7.31m).ToString("F2", CultureInfo.InvariantCulture)),
            new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(i), new DateOnly(2000, 1, 1).AddDays(i % 9000), i % 3 == 0,
            Guid.NewGuid(), new RawJson($"{{\"i\": {i}, \"ok\": {(i % 2 == 0 ? "true" : "false")}, \"tag\": \"t{i % 100}\"}}"), i / 7.0,
            new object?[] { (long)(i % 10), (long)(i % 100), (long)(i % 100000) },
        }).ToArray();
        var digest = new byte[32];
        using var rowDigest = new RowDigest(Columns);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var payload = new ArrayBufferWriter<byte>(1024);

        double Time(Action<object?[]> hash)
        {
            var best = double.MaxValue;
            for (var round = 0; round < 3; round++)
            {
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < n; i++)
                {
                    hash(rows[i % rows.Length]);
                }

                best = Math.Min(best, watch.Elapsed.TotalSeconds * 1_000_000 / n);
            }

            return best;
        }

        var old = Time(row =>
        {
            payload.ResetWrittenCount();
            RowCodec.Encode(row, payload);
            sha.AppendData(payload.WrittenSpan);
            sha.GetHashAndReset(digest);
        });
        var canonical = Time(row => rowDigest.Compute(row, digest));
        output.WriteLine($"per million rows: RowCodec + SHA-256 {old:F2} s; canonical bytes + SHA-256 {canonical:F2} s; difference {canonical - old:F2} s");

        // What was timed is the digest of the canonical bytes, not something cheaper.
        var bytes = new ArrayBufferWriter<byte>();
        rowDigest.WriteCanonical(rows[0], bytes);
        rowDigest.Compute(rows[0], digest);
        Assert.Equal(SHA256.HashData(bytes.WrittenSpan), digest);
    }

    /// <summary>
    /// The digest, key and state-side work of a delta run per million bench rows from typed batches (as
    /// the PostgreSQL source fills them: integer arrays unboxed), each part timed on its own, best of three.
    /// </summary>
    [Fact]
    public void RowDigestBench_BatchRows_DigestKeyAndState()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("BULKEXPORT_BENCH_ROWS"), CultureInfo.InvariantCulture, out var n) || n <= 0)
        {
            return;
        }

        var batches = new List<RowBatch>();
        var batch = new RowBatch(Columns, 1024);
        for (var i = 1; i <= Math.Min(n, 102_400); i++)
        {
            if (batch.IsFull)
            {
                batches.Add(batch);
                batch = new RowBatch(Columns, 1024);
            }

            var r = batch.AddRow();
            batch.SetInt64(r, 0, i);
            batch.SetString(r, 1, $"name-{i}{new string('x', i % 20)}");
            batch.SetString(r, 2, (i * 7.31m).ToString("F2", CultureInfo.InvariantCulture));
            batch.SetTimestampTz(r, 3, new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(i));
            batch.SetDate(r, 4, new DateOnly(2000, 1, 1).AddDays(i % 9000));
            batch.SetBoolean(r, 5, i % 3 == 0);
            batch.SetGuid(r, 6, Guid.NewGuid());
            batch.SetString(r, 7, $"{{\"i\": {i}, \"ok\": {(i % 2 == 0 ? "true" : "false")}, \"tag\": \"t{i % 100}\"}}");
            batch.SetDouble(r, 8, i / 7.0);
            batch.SetInt64Array(r, 9, [i % 10, i % 100, i % 100000]);
        }

        batches.Add(batch);
        var digest = new byte[32];
        using var rowDigest = new RowDigest(Columns);
        var key = new ArrayBufferWriter<byte>(64);

        double Time(Action<IRowView> work)
        {
            var best = double.MaxValue;
            for (var round = 0; round < 3; round++)
            {
                var watch = Stopwatch.StartNew();
                var done = 0;
                while (done < n)
                {
                    foreach (var b in batches)
                    {
                        for (var r = 0; r < b.Count && done < n; r++, done++)
                        {
                            work(b.View(r));
                        }
                    }
                }

                best = Math.Min(best, watch.Elapsed.TotalSeconds * 1_000_000 / n);
            }

            return best;
        }

        var canonical = new ArrayBufferWriter<byte>(1024);
        var write = Time(row =>
        {
            canonical.ResetWrittenCount();
            rowDigest.WriteCanonical(row, canonical);
        });
        var full = Time(row => rowDigest.Compute(row, digest));
        var keys = Time(row =>
        {
            key.ResetWrittenCount();
            KeyEncoder.Encode(row, [0], key);
        });
        output.WriteLine($"per million batch rows: canonical bytes {write:F2} s, digest (canonical + SHA-256) {full:F2} s, SHA-256 alone ≈ {full - write:F2} s, key {keys:F2} s");
    }
}
