using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace BulkExport.Exporter.Formats;

/// <summary>
/// SHA-256 of many short messages (one per row): OpenSSL's plain <c>SHA256_Init/Update/Final</c> on a
/// context of our own, called without a GC transition. <see cref="IncrementalHash"/> goes through
/// OpenSSL's EVP layer with a safe handle, an error-queue reset and a context re-initialisation per
/// call, which on a 230-byte bench row cost more than the hashing itself (bench/README, hot path). The
/// same function, so the same digests (the row digests of RowDigest, the per-row content hash of DataFileSetWriter); where libcrypto or the functions are missing (not Linux, an
/// OpenSSL built without the deprecated API) it is <see cref="IncrementalHash"/>.
/// Not thread-safe: one instance per stage, like its owner.
/// </summary>
internal sealed unsafe class RowSha256 : IDisposable
{
    // SHA256_CTX is 112 bytes in OpenSSL 1.1 and 3.x; room to spare.
    private const int ContextBytes = 256;

    // Inputs up to this size are hashed without a GC transition (a few microseconds at most, so a GC
    // waiting to suspend this thread waits no longer than that); longer ones with the usual transition.
    private const int ShortInput = 16 * 1024;

    private static readonly Native? Functions = Native.Load();

    private readonly IncrementalHash? _fallback;
    private byte* _context;

    public RowSha256()
    {
        if (Functions is null)
        {
            _fallback = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            return;
        }

        _context = (byte*)NativeMemory.AlignedAlloc(ContextBytes, 64);
        NativeMemory.Clear(_context, ContextBytes);
        Check(Functions.Init(_context));
    }

    /// <summary>Whether OpenSSL's functions are used (false: <see cref="IncrementalHash"/>).</summary>
    public static bool IsNative => Functions is not null;

    public void AppendData(ReadOnlySpan<byte> data)
    {
        if (_fallback is not null)
        {
            _fallback.AppendData(data);
            return;
        }

        ObjectDisposedException.ThrowIf(_context is null, this);
        fixed (byte* p = data)
        {
            Check(data.Length <= ShortInput ? Functions!.UpdateShort(_context, p, (nuint)data.Length) : Functions!.UpdateLong(_context, p, (nuint)data.Length));
        }
    }

    /// <summary>Writes the digest of the data appended since the last call (32 bytes) and starts a new one.</summary>
    public void GetHashAndReset(Span<byte> destination)
    {
        if (_fallback is not null)
        {
            _fallback.GetHashAndReset(destination);
            return;
        }

        ObjectDisposedException.ThrowIf(_context is null, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, 32);
        fixed (byte* p = destination)
        {
            Check(Functions!.Final(p, _context));
        }

        Check(Functions.Init(_context));
    }

    public byte[] GetHashAndReset()
    {
        var digest = new byte[32];
        GetHashAndReset(digest);
        return digest;
    }

    private static void Check(int result)
    {
        if (result != 1)
        {
            throw new CryptographicException("OpenSSL's SHA-256 failed");
        }
    }

    public void Dispose()
    {
        _fallback?.Dispose();
        if (_context is not null)
        {
            NativeMemory.AlignedFree(_context);
            _context = null;
        }
    }

    private sealed class Native
    {
        public delegate* unmanaged[SuppressGCTransition]<byte*, int> Init;
        public delegate* unmanaged[SuppressGCTransition]<byte*, byte*, nuint, int> UpdateShort;
        public delegate* unmanaged<byte*, byte*, nuint, int> UpdateLong;
        public delegate* unmanaged[SuppressGCTransition]<byte*, byte*, int> Final;

        public static Native? Load()
        {
            foreach (var name in new[] { "libcrypto.so.3", "libcrypto.so.1.1" })
            {
                if (!NativeLibrary.TryLoad(name, out var library))
                {
                    continue;
                }

                if (NativeLibrary.TryGetExport(library, "SHA256_Init", out var init)
                    && NativeLibrary.TryGetExport(library, "SHA256_Update", out var update)
                    && NativeLibrary.TryGetExport(library, "SHA256_Final", out var final))
                {
                    var native = new Native
                    {
                        Init = (delegate* unmanaged[SuppressGCTransition]<byte*, int>)init,
                        UpdateShort = (delegate* unmanaged[SuppressGCTransition]<byte*, byte*, nuint, int>)update,
                        UpdateLong = (delegate* unmanaged<byte*, byte*, nuint, int>)update,
                        Final = (delegate* unmanaged[SuppressGCTransition]<byte*, byte*, int>)final,
                    };
                    return native.Works() ? native : null;
                }
            }

            return null;
        }

        // The known answer for "abc" (FIPS 180-2), so a library that resolves but misbehaves is not used.
        private bool Works()
        {
            var context = stackalloc byte[ContextBytes];
            var digest = stackalloc byte[32];
            var abc = stackalloc byte[] { (byte)'a', (byte)'b', (byte)'c' };
            return Init(context) == 1 && UpdateShort(context, abc, 3) == 1 && Final(digest, context) == 1
                && new ReadOnlySpan<byte>(digest, 32).SequenceEqual(Convert.FromHexString("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        }
    }
}
