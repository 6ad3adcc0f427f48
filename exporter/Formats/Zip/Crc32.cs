namespace BulkExport.Exporter.Formats.Zip;

/// <summary>
/// The zip CRC-32 (IEEE 802.3, reflected). A thin wrapper over System.IO.Hashing's vectorised
/// implementation (carry-less multiply), which runs at several GB/s where a table walk managed ~1.
/// </summary>
internal struct Crc32
{
    private System.IO.Hashing.Crc32? _hash;

    public readonly uint Value => _hash?.GetCurrentHashAsUInt32() ?? 0;

    public void Append(ReadOnlySpan<byte> data) => (_hash ??= new System.IO.Hashing.Crc32()).Append(data);

    public static uint Compute(ReadOnlySpan<byte> data) => System.IO.Hashing.Crc32.HashToUInt32(data);
}
