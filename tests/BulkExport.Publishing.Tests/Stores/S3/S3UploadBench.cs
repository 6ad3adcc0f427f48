using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using BulkExport.Api;
using BulkExport.Publishing.Stores.S3;
using Xunit.Abstractions;
using BulkExport.Tests.Shared;

namespace BulkExport.Publishing.Tests.Stores.S3;

/// <summary>
/// Upload throughput and memory against s3rver. Runs only when <c>BULKEXPORT_BENCH_UPLOAD_MB</c> is set,
/// e.g. <c>BULKEXPORT_BENCH_UPLOAD_MB=512 dotnet test -c Release --filter S3UploadBench --logger "console;verbosity=detailed"</c>.
/// Samples the process working set and managed heap while uploading, to show memory does not grow with the file.
/// </summary>
[Collection(S3rverCollection.Name)]
public sealed class S3UploadBench(S3rverFixture s3, ITestOutputHelper output)
{
    [Fact]
    public async Task S3UploadBench_MultipartMemoryAndThroughput()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("BULKEXPORT_BENCH_UPLOAD_MB"), CultureInfo.InvariantCulture, out var megabytes) || megabytes <= 0)
        {
            return;
        }

        var path = Path.GetTempFileName();
        try
        {
            await using (var file = File.Create(path))
            {
                var block = new byte[1024 * 1024];
                var random = new Random(1);
                for (var i = 0; i < megabytes; i++)
                {
                    random.NextBytes(block);
                    await file.WriteAsync(block);
                }
            }

            string sha;
            await using (var read = File.OpenRead(path))
            {
                sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(read));
            }

            var spec = new S3StorageSpec
            {
                Bucket = S3rverFixture.Bucket, Prefix = "bench/", Endpoint = s3.Endpoint, Region = "us-east-1",
                ForcePathStyle = true, Compatibility = S3Compatibility.Legacy, PartSize = "16Mi", UploadConcurrency = 4,
            };
            using var store = new S3ObjectStore(spec, S3rverFixture.Credentials);
            GC.Collect();
            var baseline = Environment.WorkingSet;
            var baselineHeap = GC.GetTotalMemory(true);
            long peak = baseline, peakHeap = baselineHeap;
            using var stop = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    peak = Math.Max(peak, Environment.WorkingSet);
                    peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
                    await Task.Delay(20);
                }
            });

            var clock = Stopwatch.StartNew();
            await store.PutFileAsync("big.bin", path, sha, "application/octet-stream", CancellationToken.None);
            var seconds = clock.Elapsed.TotalSeconds;
            await stop.CancelAsync();
            await sampler;

            output.WriteLine($"uploaded {megabytes} MiB (16 MiB parts × 4) in {seconds:F2} s = {megabytes / seconds:F1} MiB/s");
            output.WriteLine($"working set: baseline {baseline / 1048576} MiB, peak {peak / 1048576} MiB (+{(peak - baseline) / 1048576} MiB)");
            output.WriteLine($"managed heap incl. garbage: baseline {baselineHeap / 1048576} MiB, peak {peakHeap / 1048576} MiB");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
