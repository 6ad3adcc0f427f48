namespace BulkExport.Api;

/// <summary>
/// What the exporter prints on stdout and writes to the termination log when it finishes; the
/// operator reads it back from the pod's termination message. Kept under 4 KiB (the kubelet's limit).
/// </summary>
public sealed class RunSummary
{
    public const int MaxBytes = 4096;

    /// <summary><c>Succeeded</c> or <c>Failed</c>.</summary>
    public string Outcome { get; set; } = "Succeeded";
    public string Register { get; set; } = "";
    /// <summary><c>total</c> or <c>delta</c> (a total run also writes deltas), or <c>gc</c>.</summary>
    public string Run { get; set; } = "";
    public long? Generation { get; set; }
    public long? BaseGeneration { get; set; }
    public List<string> Types { get; set; } = [];
    public DateTimeOffset? PointInTime { get; set; }
    public DateTimeOffset? CompletionTime { get; set; }
    public long Files { get; set; }
    public long Records { get; set; }
    public long Bytes { get; set; }
    public long PrunedFiles { get; set; }
    public long PrunedBytes { get; set; }
    public double DurationSeconds { get; set; }
    public int ExitCode { get; set; }
    public string? Error { get; set; }
}

/// <summary>Names shared by the operator (which sets them on pods) and the exporter (which reads them).</summary>
public static class ExporterEnvironment
{
    /// <summary>PostgreSQL connection string, from the secret named by <c>spec.source.postgres.connectionSecretRef</c>.</summary>
    public const string PostgresConnectionString = "BULKEXPORT_POSTGRES_CONNECTION";
    /// <summary>Alternative to the variable above: a file holding the connection string.</summary>
    public const string PostgresConnectionStringFile = "BULKEXPORT_POSTGRES_CONNECTION_FILE";
    public const string AwsAccessKeyId = "AWS_ACCESS_KEY_ID";
    public const string AwsSecretAccessKey = "AWS_SECRET_ACCESS_KEY";
    public const string AwsSessionToken = "AWS_SESSION_TOKEN";
    /// <summary>The Job name, recorded in manifests so status can point at the run.</summary>
    public const string JobName = "BULKEXPORT_JOB_NAME";
    /// <summary>PEM private key, from the Secret named by <c>spec.signing.secretRef</c> (entry <c>key</c>).</summary>
    public const string SigningKey = "BULKEXPORT_SIGNING_KEY";
    /// <summary>Alternative to the variable above: a file holding the PEM private key (a mounted Secret).</summary>
    public const string SigningKeyFile = "BULKEXPORT_SIGNING_KEY_FILE";
    /// <summary>The next public key (PEM or JWK), from the Secret's <c>nextPublicKeyKey</c> entry.</summary>
    public const string SigningNextPublicKey = "BULKEXPORT_SIGNING_NEXT_PUBLIC_KEY";
    /// <summary>Alternative to the variable above: a file holding the next public key.</summary>
    public const string SigningNextPublicKeyFile = "BULKEXPORT_SIGNING_NEXT_PUBLIC_KEY_FILE";
    public const string ConfigPath = "/etc/bulkexport/schedule.yaml";
    public const string TerminationLogPath = "/dev/termination-log";

    public static class ExitCodes
    {
        public const int Success = 0;
        public const int Failure = 1;
        public const int BadConfiguration = 2;
        public const int TemporaryFailure = 75;
    }
}
