using System.Text;
using BulkExport.Exporter.Formats.Zip;

namespace BulkExport.Exporter.Tests.Formats;

public sealed class Crc32Tests
{
    [Theory]
    [InlineData("", 0x00000000u)]
    [InlineData("a", 0xE8B7BE43u)]
    [InlineData("abc", 0x352441C2u)]
    [InlineData("123456789", 0xCBF43926u)]
    [InlineData("The quick brown fox jumps over the lazy dog", 0x414FA339u)]
    public void Compute_KnownVector_MatchesPublishedCrc(string input, uint expected)
    {
        Assert.Equal(expected, Crc32.Compute(Encoding.ASCII.GetBytes(input)));
    }

    [Fact]
    public void Compute_MegabyteOfZeros_MatchesBitwiseReference()
    {
        var data = new byte[1 << 20];
        Assert.Equal(BitwiseCrc(data), Crc32.Compute(data));
    }

    [Fact]
    public void Append_InUnevenChunks_EqualsOneShotAndBitwiseReference()
    {
        var data = new byte[100_003];
        new Random(42).NextBytes(data);
        var crc = new Crc32();
        var at = 0;
        var chunk = 1;
        while (at < data.Length)
        {
            var length = Math.Min(chunk, data.Length - at);
            crc.Append(data.AsSpan(at, length));
            at += length;
            chunk = (chunk * 7 % 4099) + 1;
        }

        Assert.Equal(BitwiseCrc(data), crc.Value);
        Assert.Equal(BitwiseCrc(data), Crc32.Compute(data));
    }

    private static uint BitwiseCrc(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return ~crc;
    }
}
