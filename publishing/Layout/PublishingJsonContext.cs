using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using BulkExport.Publishing.Signing;

namespace BulkExport.Publishing.Layout;

/// <summary>
/// Source-generated contracts of the documents the publishing layer writes and reads (manifests, the catalog,
/// signing keys), so they serialise without reflection: the exporter's image is native AOT, where reflection-based
/// System.Text.Json is off and the trimmer would drop the properties it reads (bench/README, native AOT).
/// </summary>
[JsonSerializable(typeof(Catalog))]
[JsonSerializable(typeof(List<CatalogRow>))]
[JsonSerializable(typeof(GenerationManifest))]
[JsonSerializable(typeof(SigningJwk))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class PublishingJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The generated contract of <typeparamref name="T"/> under a copy of <paramref name="options"/>: the documents keep
    /// the settings (naming, indentation, null handling) their options have always had, and the shared options objects
    /// stay reflection-based for the download service's other uses of them.
    /// </summary>
    public static JsonTypeInfo<T> For<T>(JsonSerializerOptions options) =>
        (JsonTypeInfo<T>)new JsonSerializerOptions(options) { TypeInfoResolver = Default }.GetTypeInfo(typeof(T));
}
