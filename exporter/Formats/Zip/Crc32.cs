using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BulkExport.Exporter.Formats.Zip;

/// <summary>
/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) as zip needs it. Slicing-by-8 so that it
/// stays far below deflate's cost: System.IO.Hashing is not among our packages, and the x86 CRC32
/// instruction computes CRC-32C, a different polynomial.
/// </summary>
internal struct Crc32
{
    private const uint Polynomial = 0xEDB88320u;

    private static readonly uint[] Table = BuildTable();

    // Kept inverted between calls so Append needs no pre/post conditioning per chunk.
    private uint _state;

    public Crc32()
    {
        _state = 0xFFFFFFFFu;
    }

    public readonly uint Value => ~_state;

    public void Append(ReadOnlySpan<byte> data) => _state = Update(_state, data);

    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(0xFFFFFFFFu, data);

    private static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        ref var t = ref MemoryMarshal.GetArrayDataReference(Table);
        while (data.Length >= 8)
        {
            var one = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            var two = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = At(ref t, (7 * 256) + (one & 0xFF))
                ^ At(ref t, (6 * 256) + ((one >> 8) & 0xFF))
                ^ At(ref t, (5 * 256) + ((one >> 16) & 0xFF))
                ^ At(ref t, (4 * 256) + (one >> 24))
                ^ At(ref t, (3 * 256) + (two & 0xFF))
                ^ At(ref t, (2 * 256) + ((two >> 8) & 0xFF))
                ^ At(ref t, 256 + ((two >> 16) & 0xFF))
                ^ At(ref t, two >> 24);
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = At(ref t, (crc ^ b) & 0xFF) ^ (crc >> 8);
        }

        return crc;
    }

    // Indices are masked to the table's bounds above, so the bounds check is pure overhead.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint At(ref uint table, uint index) => Unsafe.Add(ref table, (nint)index);

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? Polynomial ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        for (var slice = 1; slice < 8; slice++)
        {
            for (var i = 0; i < 256; i++)
            {
                var previous = table[((slice - 1) * 256) + i];
                table[(slice * 256) + i] = (previous >> 8) ^ table[previous & 0xFF];
            }
        }

        return table;
    }
}
