using BulkExport.Operator.Kubernetes;
using k8s;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BulkExport.Operator.Hosting;

internal static class OperatorServices
{
    /// <summary>Everything <c>operator run</c> needs, registered once.</summary>
    public static IServiceCollection AddBulkExportOperator(this IServiceCollection services, OperatorOptions options, KubernetesClientConfiguration kubeConfig)
    {
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new OptionsValidationError(errors);
        }

        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(kubeConfig);
        services.AddSingleton(sp => new KubeApiClient(sp.GetRequiredService<KubernetesClientConfiguration>()));
        services.AddSingleton<OperatorMetrics>();
        services.AddSingleton(sp => new OperatorRuntime(
            sp.GetRequiredService<KubeApiClient>(), options, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<OperatorMetrics>()));
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<OperatorRuntime>());
        return services;
    }
}

internal sealed class OptionsValidationError(IReadOnlyList<string> errors)
    : Exception("invalid settings:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
