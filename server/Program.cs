using System.Security.Cryptography;
using System.Text;
using BulkExport.Api;
using BulkExport.Server.Access;
using BulkExport.Publishing.Stores;
using BulkExport.Server.Configuration;
using BulkExport.Server.Registers;

namespace BulkExport.Server;

internal static class Program
{
    private const string Usage = """
        usage: server --config schedule.yaml [--config …] [--settings server.yaml] [--urls http://0.0.0.0:8080]
               server --namespaces ns1,ns2|'*' [--kube-api URL] [--schedule-secrets] [--config …] [--settings …] [--urls …]
                      (also serves the ExportSchedules of those namespaces, listed once and then watched;
                      --schedule-secrets: with the S3 credentials of the Secret each schedule names,
                      its readCredentialsSecretRef, else its credentialsSecretRef with a warning)
               server check --config schedule.yaml [--config …] [--settings server.yaml]   (validate, then exit)
               server hash-key        (reads an API key on stdin; prints its sha256 for the credentials file)
               server new-key         (prints a new random API key and its sha256)
               server hash-password   (reads a password on stdin; prints its PBKDF2 hash for the credentials file)
        """;

    public static async Task<int> Main(string[] args)
    {
        switch (args)
        {
            case ["hash-key"]:
                Console.WriteLine(Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(ReadSecret()))).ToLowerInvariant());
                return 0;
            case ["new-key"]:
                var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
                Console.WriteLine($"key:    {key}");
                Console.WriteLine($"sha256: {Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant()}");
                return 0;
            case ["hash-password"]:
                Console.WriteLine(PasswordHash.Create(ReadSecret()));
                return 0;
            case ["--help"] or ["-h"]:
                Console.WriteLine(Usage);
                return 0;
        }

        var checkOnly = args is ["check", ..];
        ServerOptions options;
        try
        {
            options = Parse(checkOnly ? args[1..] : args);
            if (checkOnly)
            {
                // Everything but the stores and the credentials file, which need the pod's mounts.
                ServedRegisters.FromSchedules(options.Schedules, options.Settings, _ => LocalObjectStore.ForReading("/nonexistent"), discovering: options.Namespaces.Count > 0);
                Console.WriteLine($"ok: {options.Schedules.Count} schedule(s), registers {string.Join(", ", options.Schedules.Select(s => s.Schedule.Spec.Register))}");
                return 0;
            }
        }
        catch (UsageException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}{Environment.NewLine}{Usage}");
            return 2;
        }
        catch (Exception e) when (e is ScheduleValidationException or ConfigurationException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return 2;
        }

        try
        {
            var app = ServerHost.Build(options);
            await app.RunAsync();
            return 0;
        }
        catch (ConfigurationException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return 2;
        }
    }

    private static string ReadSecret() => (Console.ReadLine() ?? "").TrimEnd('\r', '\n');

    internal static ServerOptions Parse(string[] args)
    {
        var configs = new List<string>();
        var urls = new List<string>();
        var namespaces = new List<string>();
        string? kubeApi = null;
        string? settingsPath = null;
        var scheduleSecrets = false;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--schedule-secrets")
            {
                scheduleSecrets = true;
                continue;
            }

            var value = i + 1 < args.Length ? args[i + 1] : throw new UsageException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--config":
                    configs.Add(value);
                    break;
                case "--settings":
                    settingsPath = settingsPath is null ? value : throw new UsageException("--settings given twice");
                    break;
                case "--namespaces":
                    namespaces.AddRange(value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                    break;
                case "--kube-api":
                    kubeApi = Uri.TryCreate(value, UriKind.Absolute, out _) ? value : throw new UsageException($"--kube-api: '{value}' is not an absolute URL");
                    break;
                case "--urls":
                    urls.AddRange(value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                    break;
                default:
                    throw new UsageException($"unknown argument '{args[i]}'");
            }

            i++;
        }

        if (configs.Count == 0 && namespaces.Count == 0)
        {
            throw new UsageException("--config (an ExportSchedule YAML; repeat it for more registers) or --namespaces is required");
        }

        if (namespaces.Contains("*") && namespaces.Count > 1)
        {
            throw new UsageException("--namespaces: '*' (all namespaces) stands alone");
        }

        if ((kubeApi is not null || scheduleSecrets) && namespaces.Count == 0)
        {
            throw new UsageException($"{(kubeApi is not null ? "--kube-api" : "--schedule-secrets")} applies only with --namespaces");
        }

        return new ServerOptions
        {
            Schedules = [.. configs.Select(c => (ScheduleDocument.LoadFile(c), c))],
            Settings = settingsPath is null ? new ServerSettings() : ServerSettings.LoadFile(settingsPath),
            Urls = urls.Count > 0 ? urls : ["http://localhost:8080"],
            Namespaces = namespaces,
            ScheduleSecrets = scheduleSecrets,
            // Outside a pod, e.g. through `kubectl proxy`: no token, plain HTTP.
            Kubernetes = kubeApi is null ? null : new k8s.KubernetesClientConfiguration { Host = kubeApi },
        };
    }
}

internal sealed class UsageException(string message) : Exception(message);
