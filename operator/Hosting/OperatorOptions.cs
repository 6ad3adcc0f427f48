namespace BulkExport.Operator.Hosting;

/// <summary>Settings of <c>operator run</c>; each validated at start with a message naming the flag and its variable.</summary>
internal sealed class OperatorOptions
{
    public const string DefaultExporterImage = "ghcr.io/bulkexport/exporter:latest";

    /// <summary>Namespaces to watch; empty means all namespaces.</summary>
    public IReadOnlyList<string> Namespaces { get; init; } = [];
    public bool LeaderElection { get; init; }
    public string LeaseName { get; init; } = "bulkexport-operator";
    public string? LeaseNamespace { get; init; }
    public string ExporterImage { get; init; } = DefaultExporterImage;
    public int HealthPort { get; init; } = 8080;
    public string Identity { get; init; } = $"{Environment.MachineName}-{Guid.NewGuid().ToString("N")[..8]}";

    public int Workers { get; init; } = 8;
    /// <summary>Every schedule is looked at again at least this often (next-run times, staleness).</summary>
    public TimeSpan ResyncPeriod { get; init; } = TimeSpan.FromMinutes(10);
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Give the lease up on shutdown so a standby need not wait a lease duration (client-go's ReleaseOnCancel).</summary>
    public bool ReleaseOnCancel { get; init; } = true;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach (var ns in Namespaces)
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(ns, Api.ScheduleValidator.DnsLabelPattern))
            {
                errors.Add($"--namespaces (WATCH_NAMESPACES): '{ns}' is not a namespace name");
            }
        }

        if (LeaderElection && string.IsNullOrWhiteSpace(LeaseNamespace))
        {
            errors.Add("--lease-namespace (POD_NAMESPACE): required when --leader-election is on");
        }

        if (string.IsNullOrWhiteSpace(LeaseName))
        {
            errors.Add("--lease-name: must not be empty");
        }

        if (string.IsNullOrWhiteSpace(ExporterImage))
        {
            errors.Add("--exporter-image (EXPORTER_IMAGE): must not be empty");
        }

        if (HealthPort is < 0 or > 65535)
        {
            errors.Add($"--health-port (HEALTH_PORT): must be between 0 and 65535, got {HealthPort}");
        }

        if (Workers < 1)
        {
            errors.Add($"workers: must be at least 1, got {Workers}");
        }

        if (RenewDeadline >= LeaseDuration || RetryPeriod >= RenewDeadline)
        {
            errors.Add("lease timing: need retry period < renew deadline < lease duration");
        }

        return errors;
    }
}
