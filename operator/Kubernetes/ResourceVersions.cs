using System.Diagnostics.CodeAnalysis;

namespace BulkExport.Operator.Kubernetes;

/// <summary>
/// Orders two resourceVersions of the same resource. The API conventions long called them opaque
/// (equality only), but the API server's are etcd revisions, and since Kubernetes 1.35 (KEP-5504)
/// every built-in resource and CRD guarantees it: decimal integers of unbounded length, increasing
/// with every write; client-go's <c>util/resourceversion.CompareResourceVersion</c> compares them
/// so and refuses anything else. So does this: null means "not comparable", and the caller must
/// then rely on the order of the watch stream alone, as client-go's informer does.
/// </summary>
internal static class ResourceVersions
{
    /// <summary>-1, 0 or 1 when both are well-formed integers (no sign, no leading zero); otherwise null.</summary>
    public static int? Compare(string? a, string? b)
    {
        if (!IsWellFormed(a) || !IsWellFormed(b))
        {
            return null;
        }

        // Same length: digit strings order as the numbers do; no parsing, so no size limit.
        return a.Length != b.Length ? (a.Length < b.Length ? -1 : 1) : Math.Sign(string.CompareOrdinal(a, b));
    }

    /// <summary>True when <paramref name="a"/> is known to be newer than <paramref name="b"/>.</summary>
    public static bool IsNewer(string? a, string? b) => Compare(a, b) > 0;

    private static bool IsWellFormed([NotNullWhen(true)] string? rv)
    {
        if (string.IsNullOrEmpty(rv) || rv[0] == '0')
        {
            return false;
        }

        foreach (var c in rv)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
