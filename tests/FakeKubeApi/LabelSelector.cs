using System.Text.Json.Nodes;

namespace BulkExport.FakeKubeApi;

/// <summary>Equality- and set-based label selectors (<c>a=b,c!=d,e,!f,g in (x,y),h notin (z)</c>).</summary>
public sealed class LabelSelector
{
    private readonly List<Func<IReadOnlyDictionary<string, string>, bool>> _terms = [];

    private LabelSelector()
    {
    }

    public static LabelSelector Everything { get; } = new();

    public static LabelSelector Parse(string? text)
    {
        var selector = new LabelSelector();
        if (string.IsNullOrWhiteSpace(text))
        {
            return selector;
        }

        foreach (var raw in SplitTerms(text))
        {
            var term = raw.Trim();
            if (term.Contains(" notin ", StringComparison.Ordinal))
            {
                var (key, values) = SetTerm(term, " notin ");
                selector._terms.Add(l => !l.TryGetValue(key, out var v) || !values.Contains(v));
            }
            else if (term.Contains(" in ", StringComparison.Ordinal))
            {
                var (key, values) = SetTerm(term, " in ");
                selector._terms.Add(l => l.TryGetValue(key, out var v) && values.Contains(v));
            }
            else if (term.Contains("!=", StringComparison.Ordinal))
            {
                var parts = term.Split("!=", 2);
                var (key, value) = (parts[0].Trim(), parts[1].Trim());
                selector._terms.Add(l => !l.TryGetValue(key, out var v) || v != value);
            }
            else if (term.Contains('=', StringComparison.Ordinal))
            {
                var parts = term.Split(term.Contains("==", StringComparison.Ordinal) ? "==" : "=", 2);
                var (key, value) = (parts[0].Trim(), parts[1].Trim());
                selector._terms.Add(l => l.TryGetValue(key, out var v) && v == value);
            }
            else if (term.StartsWith('!'))
            {
                var key = term[1..].Trim();
                selector._terms.Add(l => !l.ContainsKey(key));
            }
            else
            {
                selector._terms.Add(l => l.ContainsKey(term));
            }
        }

        return selector;
    }

    public bool Matches(JsonObject? obj)
    {
        if (obj is null)
        {
            return false;
        }

        var labels = new Dictionary<string, string>();
        if (obj["metadata"]?["labels"] is JsonObject l)
        {
            foreach (var (k, v) in l)
            {
                labels[k] = (string?)v ?? "";
            }
        }

        return _terms.All(t => t(labels));
    }

    private static (string Key, HashSet<string> Values) SetTerm(string term, string op)
    {
        var parts = term.Split(op, 2);
        var values = parts[1].Trim().TrimStart('(').TrimEnd(')').Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return (parts[0].Trim(), [.. values]);
    }

    private static IEnumerable<string> SplitTerms(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '(')
            {
                depth++;
            }
            else if (text[i] == ')')
            {
                depth--;
            }
            else if (text[i] == ',' && depth == 0)
            {
                yield return text[start..i];
                start = i + 1;
            }
        }

        yield return text[start..];
    }
}
