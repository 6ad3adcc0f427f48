using System.Diagnostics;
using BulkExport.Api;
using BulkExport.Exporter.Tests.Support;

namespace BulkExport.Exporter.Tests.Sources.Postgres;

/// <summary>The bench's generated ExportSchedule passes the API's own parser and validator, so a bench run fails on speed, not on config.</summary>
public sealed class PostgresBenchConfigTests
{
    [Theory]
    [InlineData("CSV", "local")]
    [InlineData("JSON", "s3")]
    public async Task BenchSchedule_IsAValidExportSchedule(string format, string storage)
    {
        var repo = RepoPaths.Root;
        var work = Directory.CreateTempSubdirectory("bulkexport-bench-config-").FullName;
        try
        {
            var file = Path.Combine(work, "schedule.yaml");
            var start = new ProcessStartInfo("bash") { WorkingDirectory = repo, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add($"source bench/schedule.sh && write_schedule '{file}' {format} {storage} BENCHX '{work}' http://127.0.0.1:1");
            using var process = Process.Start(start)!;
            var stderr = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, stderr);

            var schedule = ScheduleDocument.LoadFile(file);
            Assert.Equal("BENCHX", schedule.Spec.Register);
            Assert.Equal([format], schedule.Spec.Output.Formats);
            var entity = Assert.Single(schedule.Spec.Entities);
            Assert.Equal("public.bench", entity.Table);
            Assert.NotNull(schedule.Spec.Source.Postgres);
            if (storage == "s3")
            {
                Assert.Equal(S3Compatibility.Legacy, schedule.Spec.Storage.S3!.Compatibility);
                Assert.True(schedule.Spec.Storage.S3.ForcePathStyle);
            }
            else
            {
                Assert.StartsWith(work, schedule.Spec.Storage.Local!.Path, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
