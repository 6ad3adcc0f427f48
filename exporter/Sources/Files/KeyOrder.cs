using BulkExport.Exporter.Rows;

namespace BulkExport.Exporter.Sources.Files;

/// <summary>
/// Follows whether a file's rows come in the order of their keys as the pipeline compares them
/// (<see cref="Pipeline.KeyEncoder"/>: integers numerically, text by its UTF-8 bytes, key columns left
/// to right). A file that is in order lets the delta merge rows as they come instead of sorting every
/// row externally (spilled to disk past its budget) and reading them back. Equal keys count as in
/// order: the merge reports them as duplicates, the same way it does after a sort.
/// </summary>
internal sealed class KeyOrder
{
    private enum Class : byte
    {
        Unknown,
        Integer,
        Text,
    }

    private readonly Class[] _classes;
    private long[] _ints;
    private long[] _previousInts;
    private byte[][] _text;
    private byte[][] _previousText;
    private int[] _textLength;
    private int[] _previousTextLength;
    private readonly bool[] _set;
    private bool _hasPrevious;
    // The first row's key, kept for joining the orders of two ranges of one file.
    private long[]? _firstInts;
    private byte[][]? _firstText;

    public KeyOrder(int keyCount)
    {
        _classes = new Class[keyCount];
        _ints = new long[keyCount];
        _previousInts = new long[keyCount];
        _text = [.. Enumerable.Range(0, keyCount).Select(_ => new byte[32])];
        _previousText = [.. Enumerable.Range(0, keyCount).Select(_ => new byte[32])];
        _textLength = new int[keyCount];
        _previousTextLength = new int[keyCount];
        _set = new bool[keyCount];
    }

    /// <summary>False once a row came before its predecessor, or a key value was of a kind whose order is not followed.</summary>
    public bool InOrder { get; private set; } = true;

    public void BeginRow() => Array.Clear(_set);

    public void SetInteger(int slot, long value)
    {
        if (!Claim(slot, Class.Integer))
        {
            return;
        }

        _ints[slot] = value;
    }

    public void SetText(int slot, ReadOnlySpan<byte> utf8)
    {
        if (!Claim(slot, Class.Text))
        {
            return;
        }

        if (_text[slot].Length < utf8.Length)
        {
            _text[slot] = new byte[Math.Max(utf8.Length, _text[slot].Length * 2)];
        }

        utf8.CopyTo(_text[slot]);
        _textLength[slot] = utf8.Length;
    }

    /// <summary>A key value this tracker does not order (null, a boolean, a decimal, a structure): the file counts as unordered.</summary>
    public void SetOther() => InOrder = false;

    /// <summary>Compares the row with the one before; false (and <see cref="InOrder"/> false from here on) when it comes before it or a key was missing.</summary>
    public bool EndRow()
    {
        if (!InOrder)
        {
            return false;
        }

        if (Array.IndexOf(_set, false) >= 0)
        {
            InOrder = false;
            return false;
        }

        if (_hasPrevious && Compare() < 0)
        {
            InOrder = false;
            return false;
        }

        if (!_hasPrevious)
        {
            _firstInts = [.. _ints];
            _firstText = [.. Enumerable.Range(0, _text.Length).Select(slot => _text[slot].AsSpan(0, _textLength[slot]).ToArray())];
        }

        (_ints, _previousInts) = (_previousInts, _ints);
        (_text, _previousText) = (_previousText, _text);
        (_textLength, _previousTextLength) = (_previousTextLength, _textLength);
        _hasPrevious = true;
        return true;
    }

    /// <summary>
    /// Joins the order of the range of rows that follows this one: in order when both are and this
    /// range's last key is not after <paramref name="next"/>'s first.
    /// </summary>
    public void Append(KeyOrder next)
    {
        if (!InOrder || !next.InOrder)
        {
            InOrder = false;
            return;
        }

        if (!next._hasPrevious)
        {
            return;
        }

        for (var slot = 0; slot < _classes.Length; slot++)
        {
            if (_classes[slot] == Class.Unknown)
            {
                _classes[slot] = next._classes[slot];
            }
            else if (_classes[slot] != next._classes[slot])
            {
                InOrder = false;
                return;
            }
        }

        if (_hasPrevious)
        {
            // "Current" is this range's last row once swapped in; the comparison wants it as the later one.
            for (var slot = 0; slot < _classes.Length; slot++)
            {
                _ints[slot] = next._firstInts![slot];
                var first = next._firstText![slot];
                if (_text[slot].Length < first.Length)
                {
                    _text[slot] = new byte[first.Length];
                }

                first.CopyTo(_text[slot], 0);
                _textLength[slot] = first.Length;
            }

            if (Compare() < 0)
            {
                InOrder = false;
                return;
            }
        }

        // Carry on from the later range's last row.
        _hasPrevious = true;
        for (var slot = 0; slot < _classes.Length; slot++)
        {
            _previousInts[slot] = next._previousInts[slot];
            _previousText[slot] = next._previousText[slot].AsSpan(0, next._previousTextLength[slot]).ToArray();
            _previousTextLength[slot] = next._previousTextLength[slot];
        }
    }

    /// <summary>Whether the order followed is the pipeline's for the columns' final kinds (the first pass learns them only at the end).</summary>
    public bool Matches(IReadOnlyList<Column> columns, IReadOnlyList<int> keyIndexes)
    {
        for (var slot = 0; slot < _classes.Length; slot++)
        {
            var kind = columns[keyIndexes[slot]].Kind;
            var expected = kind switch
            {
                ColumnKind.Integer => Class.Integer,
                ColumnKind.Text => Class.Text,
                _ => Class.Unknown,
            };
            if (expected == Class.Unknown || (_classes[slot] != expected && _classes[slot] != Class.Unknown))
            {
                return false;
            }
        }

        return true;
    }

    private bool Claim(int slot, Class kind)
    {
        if (_classes[slot] == Class.Unknown)
        {
            _classes[slot] = kind;
        }
        else if (_classes[slot] != kind)
        {
            InOrder = false;
            return false;
        }

        _set[slot] = true;
        return true;
    }

    private int Compare()
    {
        for (var slot = 0; slot < _classes.Length; slot++)
        {
            var order = _classes[slot] == Class.Integer
                ? _ints[slot].CompareTo(_previousInts[slot])
                : _text[slot].AsSpan(0, _textLength[slot]).SequenceCompareTo(_previousText[slot].AsSpan(0, _previousTextLength[slot]));
            if (order != 0)
            {
                return order;
            }
        }

        return 0;
    }
}
