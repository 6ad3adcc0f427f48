using System.Buffers.Binary;
using System.Runtime.InteropServices;
using SQLitePCL;

namespace BulkExport.Exporter.Formats.Geo;

/// <summary>
/// One prepared SQLite statement whose binds and steps call e_sqlite3 directly: binds spans and
/// numbers without boxing them into <c>SqliteParameter</c>s (which for a million rows cost more than
/// SQLite's own work), and without SQLitePCLRaw's SafeHandle reference count taken and dropped around
/// every call (two interlocked operations per bound value: 3% of a 1M-point GeoPackage's CPU, bench/README.md,
/// "GPKG after geo9"). SQLitePCLRaw prepares and finalizes it, so the handle lives exactly as long as
/// this object, on the connection (and inside the transaction) Microsoft.Data.Sqlite opened.
/// </summary>
internal sealed partial class RawStatement : IDisposable
{
    // SQLITE_TRANSIENT: SQLite copies text and blobs at bind time, so the caller's buffer may change after.
    private static readonly IntPtr Transient = new(-1);

    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;
    private readonly IntPtr _handle;

    public RawStatement(sqlite3 db, string sql)
    {
        _db = db;
        Check(raw.sqlite3_prepare_v2(db, sql, out _statement), sql);
        _handle = _statement.DangerousGetHandle();
    }

    public void BindInt64(int index, long value) => Check(NativeMethods.BindInt64(_handle, index, value));

    public void BindDouble(int index, double value) => Check(NativeMethods.BindDouble(_handle, index, value));

    public void BindNull(int index) => Check(NativeMethods.BindNull(_handle, index));

    /// <summary>UTF-8 text; an empty span is the empty string, not NULL.</summary>
    public unsafe void BindText(int index, ReadOnlySpan<byte> utf8)
    {
        // A non-null pointer even for an empty span: a null one would bind NULL.
        byte empty = 0;
        fixed (byte* text = utf8)
        {
            Check(NativeMethods.BindText(_handle, index, text == null ? &empty : text, utf8.Length, Transient));
        }
    }

    /// <summary>A blob; an empty span is the empty blob, not NULL.</summary>
    public unsafe void BindBlob(int index, ReadOnlySpan<byte> blob)
    {
        if (blob.IsEmpty)
        {
            Check(NativeMethods.BindZeroBlob(_handle, index, 0));
            return;
        }

        fixed (byte* bytes = blob)
        {
            Check(NativeMethods.BindBlob(_handle, index, bytes, blob.Length, Transient));
        }
    }

    /// <summary>Runs the statement once (it must return no row) and resets it for the next bindings.</summary>
    public void Execute()
    {
        var rc = NativeMethods.Step(_handle);
        NativeMethods.Reset(_handle);
        if (rc != raw.SQLITE_DONE)
        {
            throw new InvalidOperationException($"SQLite error {rc}: {raw.sqlite3_errmsg(_db).utf8_to_string()}");
        }
    }

    /// <summary>Runs a statement that returns one integer (e.g. <c>PRAGMA page_count</c>).</summary>
    public long ExecuteScalarInt64()
    {
        var rc = NativeMethods.Step(_handle);
        try
        {
            return rc == raw.SQLITE_ROW
                ? raw.sqlite3_column_int64(_statement, 0)
                : throw new InvalidOperationException($"SQLite error {rc}: {raw.sqlite3_errmsg(_db).utf8_to_string()}");
        }
        finally
        {
            NativeMethods.Reset(_handle);
        }
    }

    public void Dispose() => _statement.Dispose();

    private void Check(int rc, string? sql = null)
    {
        if (rc != raw.SQLITE_OK)
        {
            throw new InvalidOperationException($"SQLite error {rc}: {raw.sqlite3_errmsg(_db).utf8_to_string()}{(sql is null ? "" : $" ({sql})")}");
        }
    }

    /// <summary>The e_sqlite3 library SQLitePCLRaw's bundle loads (the same native asset, resolved the same way).</summary>
    private static unsafe partial class NativeMethods
    {
        private const string Library = "e_sqlite3";

        [LibraryImport(Library, EntryPoint = "sqlite3_bind_int64")]
        public static partial int BindInt64(IntPtr statement, int index, long value);

        [LibraryImport(Library, EntryPoint = "sqlite3_bind_double")]
        public static partial int BindDouble(IntPtr statement, int index, double value);

        [LibraryImport(Library, EntryPoint = "sqlite3_bind_null")]
        public static partial int BindNull(IntPtr statement, int index);

        [LibraryImport(Library, EntryPoint = "sqlite3_bind_text")]
        public static partial int BindText(IntPtr statement, int index, byte* text, int bytes, IntPtr destructor);

        [LibraryImport(Library, EntryPoint = "sqlite3_bind_blob")]
        public static partial int BindBlob(IntPtr statement, int index, byte* blob, int bytes, IntPtr destructor);

        [LibraryImport(Library, EntryPoint = "sqlite3_bind_zeroblob")]
        public static partial int BindZeroBlob(IntPtr statement, int index, int bytes);

        [LibraryImport(Library, EntryPoint = "sqlite3_step")]
        public static partial int Step(IntPtr statement);

        [LibraryImport(Library, EntryPoint = "sqlite3_reset")]
        public static partial int Reset(IntPtr statement);
    }
}

/// <summary>
/// Builds a GeoPackage's <c>gpkg_rtree_index</c> R-tree packed, as GDAL does, instead of inserting every
/// envelope through SQLite's R*-tree (which re-reads and splits nodes per row and held most of a
/// GeoPackage's time): envelopes are collected per chunk of <see cref="ChunkRows"/> feature ids,
/// sorted along a Hilbert curve and cut into full leaves written straight into the R-tree's shadow
/// tables (<c>_node</c>, <c>_rowid</c>, <c>_parent</c>); the levels above are built from the leaves'
/// boxes the same way at <see cref="Finish"/>. Memory is one chunk (28 bytes a feature), whatever
/// the row count: a file of more than one chunk gets leaves sorted within their chunk, still a valid
/// and useful index. The node layout is SQLite's (rtree.c): big-endian, a depth in the root, cells of
/// a 64-bit id and four 32-bit floats rounded outward exactly as SQLite rounds them.
/// </summary>
internal sealed class GeoPackageRtree : IDisposable
{
    /// <summary>
    /// Feature ids per sorted chunk: 512k, about 14 MiB of envelopes, keys and leaf numbers. A first
    /// total holds two GeoPackage writers (the total and the full delta), so this is paid twice.
    /// </summary>
    public const int ChunkRows = 1 << 19;

    private const int BytesPerCell = 8 + (4 * 4);

    // rtree.c's RNDTOWARDS / RNDAWAY: a double becomes the float just inside or outside it.
    private const double RoundTowards = 1.0 - (1.0 / 8388608.0);
    private const double RoundAway = 1.0 + (1.0 / 8388608.0);

    private readonly sqlite3 _db;
    private readonly int _chunkRows;
    private readonly string _name;
    private readonly int _nodeSize;
    private readonly int _maxCells;
    // The _rowid table gets one row per feature: RowidGroup of them per INSERT, as the features table
    // does (GeoPackageFile.GroupRows), since per statement SQLite opens its cursors and per call
    // there is a transition; the rest of a chunk goes one row per statement. Same rows, same order.
    private const int RowidGroup = 64;

    private readonly RawStatement _insertNode;
    private readonly RawStatement _insertRowid;
    private readonly RawStatement _insertRowids;
    private readonly RawStatement _insertParent;
    private readonly List<Box> _leaves = [];
    private readonly byte[] _node;
    private float[] _boxes = new float[4 * 1024];
    // Per entry of the chunk: its Hilbert key (high 32 bits) and index (low 32) once sorted, and its feature id's slot.
    private ulong[] _keys = new ulong[1024];
    private int[] _slots = new int[1024];
    private int[] _nodeOfSlot = new int[1024];
    private int _count;
    private long _firstFid = -1;
    private int _span;
    private long _nextNode = 2;
    private bool _cleared;

    /// <param name="db">The GeoPackage's connection.</param>
    /// <param name="name">The R-tree virtual table (<c>rtree_&lt;table&gt;_&lt;column&gt;</c>), created already and empty.</param>
    /// <param name="chunkRows">Feature ids per sorted chunk; <see cref="ChunkRows"/> but in tests.</param>
    public GeoPackageRtree(sqlite3 db, string name, int chunkRows = ChunkRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkRows, 1);
        _chunkRows = chunkRows;
        _db = db;
        _name = name;
        // The node size SQLite chose when it created the table (page size − 64, at most 51 cells).
        using (var size = new RawStatement(db, $"SELECT length(data) FROM {Quote(name + "_node")} WHERE nodeno = 1"))
        {
            _nodeSize = (int)size.ExecuteScalarInt64();
        }

        _maxCells = (_nodeSize - 4) / BytesPerCell;
        _node = new byte[_nodeSize];
        _insertNode = new RawStatement(db, $"INSERT INTO {Quote(name + "_node")} (nodeno, data) VALUES (?1, ?2)");
        _insertRowid = new RawStatement(db, $"INSERT INTO {Quote(name + "_rowid")} (rowid, nodeno) VALUES (?1, ?2)");
        _insertRowids = new RawStatement(db, $"INSERT INTO {Quote(name + "_rowid")} (rowid, nodeno) VALUES {string.Join(", ", Enumerable.Range(0, RowidGroup).Select(r => $"(?{(2 * r) + 1}, ?{(2 * r) + 2})"))}");
        _insertParent = new RawStatement(db, $"INSERT INTO {Quote(name + "_parent")} (nodeno, parentnode) VALUES (?1, ?2)");
    }

    /// <summary>Adds a feature's envelope; feature ids must increase.</summary>
    public void Add(long fid, double minX, double maxX, double minY, double maxY)
    {
        if (_firstFid < 0)
        {
            _firstFid = fid;
        }
        else if (fid - _firstFid >= _chunkRows)
        {
            FlushChunk();
            _firstFid = fid;
        }

        var slot = (int)(fid - _firstFid);
        if (slot >= _span)
        {
            _span = slot + 1;
            if (_span > _nodeOfSlot.Length)
            {
                var grown = Math.Min(_chunkRows, Math.Max(_span, _nodeOfSlot.Length * 2));
                Array.Resize(ref _nodeOfSlot, grown);
            }
        }

        if (_count == _keys.Length)
        {
            var grown = Math.Min(_chunkRows, _keys.Length * 2);
            Array.Resize(ref _keys, grown);
            Array.Resize(ref _slots, grown);
            Array.Resize(ref _boxes, grown * 4);
        }

        var at = _count * 4;
        _boxes[at] = Down(minX);
        _boxes[at + 1] = Up(maxX);
        _boxes[at + 2] = Down(minY);
        _boxes[at + 3] = Up(maxY);
        _slots[_count++] = slot;
    }

    /// <summary>Writes what is left and the levels above the leaves, ending with the root (node 1).</summary>
    public void Finish()
    {
        if (_leaves.Count == 0 && _count == 0)
        {
            // No geometry: the empty root SQLite created stays.
            return;
        }

        Clear();
        if (_leaves.Count == 0 && _count <= _maxCells)
        {
            // Everything fits the root, which is then the only leaf (depth 0).
            SortChunk();
            WriteLeaf(1, 0, _count, depth: 0);
            WriteRowids();
            return;
        }

        FlushChunk();
        var level = _leaves;
        var depth = 1;
        while (level.Count > _maxCells)
        {
            var next = new List<Box>((level.Count / _maxCells) + 1);
            SortBoxes(level);
            for (var start = 0; start < level.Count; start += _maxCells)
            {
                var node = _nextNode++;
                next.Add(WriteInterior(node, level, start, Math.Min(_maxCells, level.Count - start), 0));
            }

            level = next;
            depth++;
        }

        WriteInterior(1, level, 0, level.Count, depth);
    }

    public void Dispose()
    {
        _insertNode.Dispose();
        _insertRowid.Dispose();
        _insertRowids.Dispose();
        _insertParent.Dispose();
    }

    private void Clear()
    {
        if (_cleared)
        {
            return;
        }

        // The empty root SQLite wrote at CREATE; ours replaces it.
        _cleared = true;
        using var delete = new RawStatement(_db, $"DELETE FROM {Quote(_name + "_node")}");
        delete.Execute();
    }

    /// <summary>Sorts the chunk's entries along the Hilbert curve of their centres and writes them as full leaves.</summary>
    private void FlushChunk()
    {
        if (_count == 0)
        {
            return;
        }

        Clear();
        SortChunk();
        for (var start = 0; start < _count; start += _maxCells)
        {
            var node = _nextNode++;
            _leaves.Add(WriteLeaf(node, start, Math.Min(_maxCells, _count - start), depth: 0));
        }

        WriteRowids();
    }

    private void SortChunk()
    {
        float minX = float.MaxValue, minY = float.MaxValue, maxX = float.MinValue, maxY = float.MinValue;
        for (var i = 0; i < _count; i++)
        {
            var (x, y) = Centre(_boxes, i * 4);
            minX = Math.Min(minX, x);
            maxX = Math.Max(maxX, x);
            minY = Math.Min(minY, y);
            maxY = Math.Max(maxY, y);
        }

        for (var i = 0; i < _count; i++)
        {
            var (x, y) = Centre(_boxes, i * 4);
            // The entry's index rides in the low bits: its box is found again after the sort.
            _keys[i] = ((ulong)Hilbert(x, y, minX, maxX, minY, maxY) << 32) | (uint)i;
        }

        Array.Sort(_keys, 0, _count);
    }

    private Box WriteLeaf(long node, int start, int count, int depth)
    {
        Array.Clear(_node);
        BinaryPrimitives.WriteUInt16BigEndian(_node, (ushort)depth);
        BinaryPrimitives.WriteUInt16BigEndian(_node.AsSpan(2), (ushort)count);
        var box = Box.Empty(node);
        for (var c = 0; c < count; c++)
        {
            var entry = (int)(uint)_keys[start + c];
            var at = entry * 4;
            var slot = _slots[entry];
            box = box.Include(_boxes[at], _boxes[at + 1], _boxes[at + 2], _boxes[at + 3]);
            WriteCell(4 + (c * BytesPerCell), _firstFid + slot, _boxes[at], _boxes[at + 1], _boxes[at + 2], _boxes[at + 3]);
            _nodeOfSlot[slot] = (int)node;
        }

        _insertNode.BindInt64(1, node);
        _insertNode.BindBlob(2, _node);
        _insertNode.Execute();
        return box;
    }

    /// <summary>Each feature's leaf, in feature-id order, so the _rowid table is appended to, not scattered.</summary>
    private void WriteRowids()
    {
        var remaining = 0;
        for (var slot = 0; slot < _span; slot++)
        {
            remaining += _nodeOfSlot[slot] == 0 ? 0 : 1;
        }

        var inGroup = 0;
        for (var slot = 0; slot < _span; slot++)
        {
            var node = _nodeOfSlot[slot];
            if (node == 0)
            {
                continue;
            }

            _nodeOfSlot[slot] = 0;
            if (inGroup > 0 || remaining >= RowidGroup)
            {
                // A group is started only with RowidGroup rows still to come, so it is always completed.
                if (inGroup == 0)
                {
                    remaining -= RowidGroup;
                }

                _insertRowids.BindInt64((2 * inGroup) + 1, _firstFid + slot);
                _insertRowids.BindInt64((2 * inGroup) + 2, node);
                if (++inGroup == RowidGroup)
                {
                    _insertRowids.Execute();
                    inGroup = 0;
                }

                continue;
            }

            _insertRowid.BindInt64(1, _firstFid + slot);
            _insertRowid.BindInt64(2, node);
            _insertRowid.Execute();
            remaining--;
        }

        _count = 0;
        _span = 0;
    }

    private Box WriteInterior(long node, List<Box> children, int start, int count, int depth)
    {
        Array.Clear(_node);
        BinaryPrimitives.WriteUInt16BigEndian(_node, (ushort)depth);
        BinaryPrimitives.WriteUInt16BigEndian(_node.AsSpan(2), (ushort)count);
        var box = Box.Empty(node);
        for (var c = 0; c < count; c++)
        {
            var child = children[start + c];
            box = box.Include(child.MinX, child.MaxX, child.MinY, child.MaxY);
            WriteCell(4 + (c * BytesPerCell), child.Node, child.MinX, child.MaxX, child.MinY, child.MaxY);
            _insertParent.BindInt64(1, child.Node);
            _insertParent.BindInt64(2, node);
            _insertParent.Execute();
        }

        _insertNode.BindInt64(1, node);
        _insertNode.BindBlob(2, _node);
        _insertNode.Execute();
        return box;
    }

    private static void SortBoxes(List<Box> boxes)
    {
        float minX = float.MaxValue, minY = float.MaxValue, maxX = float.MinValue, maxY = float.MinValue;
        foreach (var b in boxes)
        {
            var (x, y) = (b.MinX + ((b.MaxX - b.MinX) / 2), b.MinY + ((b.MaxY - b.MinY) / 2));
            minX = Math.Min(minX, x);
            maxX = Math.Max(maxX, x);
            minY = Math.Min(minY, y);
            maxY = Math.Max(maxY, y);
        }

        var keys = new ulong[boxes.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            var b = boxes[i];
            keys[i] = ((ulong)Hilbert(b.MinX + ((b.MaxX - b.MinX) / 2), b.MinY + ((b.MaxY - b.MinY) / 2), minX, maxX, minY, maxY) << 32) | (uint)i;
        }

        Array.Sort(keys);
        var sorted = keys.Select(k => boxes[(int)(uint)k]).ToList();
        boxes.Clear();
        boxes.AddRange(sorted);
    }

    private void WriteCell(int at, long id, float minX, float maxX, float minY, float maxY)
    {
        var cell = _node.AsSpan(at, BytesPerCell);
        BinaryPrimitives.WriteInt64BigEndian(cell, id);
        BinaryPrimitives.WriteSingleBigEndian(cell[8..], minX);
        BinaryPrimitives.WriteSingleBigEndian(cell[12..], maxX);
        BinaryPrimitives.WriteSingleBigEndian(cell[16..], minY);
        BinaryPrimitives.WriteSingleBigEndian(cell[20..], maxY);
    }

    private static (float X, float Y) Centre(float[] boxes, int at) =>
        (boxes[at] + ((boxes[at + 1] - boxes[at]) / 2), boxes[at + 2] + ((boxes[at + 3] - boxes[at + 2]) / 2));

    /// <summary>The position of (x, y), scaled to 16 bits per axis within the extent, along a Hilbert curve of order 16.</summary>
    internal static uint Hilbert(float x, float y, float minX, float maxX, float minY, float maxY)
    {
        const uint n = 1u << 16;
        var hx = Scale(x, minX, maxX);
        var hy = Scale(y, minY, maxY);
        uint d = 0;
        for (var s = n / 2; s > 0; s /= 2)
        {
            var rx = (hx & s) > 0 ? 1u : 0u;
            var ry = (hy & s) > 0 ? 1u : 0u;
            d += s * s * ((3 * rx) ^ ry);
            if (ry == 0)
            {
                if (rx == 1)
                {
                    hx = n - 1 - hx;
                    hy = n - 1 - hy;
                }

                (hx, hy) = (hy, hx);
            }
        }

        return d;

        static uint Scale(float v, float min, float max) =>
            max > min ? (uint)Math.Clamp((v - min) / (max - min) * 65535.0, 0, 65535) : 0;
    }

    internal static float Down(double d)
    {
        var f = (float)d;
        return f > d ? (float)(d * (d < 0 ? RoundAway : RoundTowards)) : f;
    }

    internal static float Up(double d)
    {
        var f = (float)d;
        return f < d ? (float)(d * (d < 0 ? RoundTowards : RoundAway)) : f;
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private readonly record struct Box(long Node, float MinX, float MaxX, float MinY, float MaxY)
    {
        public static Box Empty(long node) => new(node, float.MaxValue, float.MinValue, float.MaxValue, float.MinValue);

        public Box Include(float minX, float maxX, float minY, float maxY) =>
            new(Node, Math.Min(MinX, minX), Math.Max(MaxX, maxX), Math.Min(MinY, minY), Math.Max(MaxY, maxY));
    }
}
