using k8s;

namespace BulkExport.Operator.Kubernetes;

/// <summary>Where the API server is and how to authenticate, read by the official client's <see cref="KubernetesClientConfiguration"/>.</summary>
internal static class KubeConfig
{
    /// <summary>
    /// In-cluster when KUBERNETES_SERVICE_HOST is set (service-account token, re-read as it rotates),
    /// else $KUBECONFIG (the first listed file that exists), else ~/.kube/config: the current
    /// context with CA, client certificates, tokens and exec credential plugins (EKS, GKE, AKS).
    /// </summary>
    public static KubernetesClientConfiguration Load()
    {
        if (KubernetesClientConfiguration.IsInCluster())
        {
            return KubernetesClientConfiguration.InClusterConfig();
        }

        var list = Environment.GetEnvironmentVariable("KUBECONFIG");
        var path = string.IsNullOrEmpty(list)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kube", "config")
            : list.Split(Path.PathSeparator).FirstOrDefault(File.Exists) ?? list.Split(Path.PathSeparator)[0];
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"no kubeconfig at '{path}' and KUBERNETES_SERVICE_HOST is not set; set KUBECONFIG or run in a cluster");
        }

        return FromFile(path);
    }

    public static KubernetesClientConfiguration FromFile(string path, string? context = null) =>
        KubernetesClientConfiguration.BuildConfigFromConfigFile(path, context);
}
