using BulkExport.Exporter.Formats.Geo;
using Microsoft.Data.Sqlite;

namespace BulkExport.Exporter.Tests.Formats.Geo;

/// <summary>The packed R-tree against SQLite's own checker and queries, with leaves, levels and chunks.</summary>
public sealed class GeoPackageRtreeTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    // One root leaf; two levels; three levels; several chunks (with a gap in the ids: null geometries).
    [InlineData(7, 1 << 20)]
    [InlineData(2000, 1 << 20)]
    [InlineData(6000, 1 << 20)]
    [InlineData(6000, 1000)]
    public void PackedTree_PassesRtreecheck_AndAnswersBoxQueriesAsABruteForceScanDoes(int count, int chunkRows)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_temp.Path, "t.db")};Pooling=False");
        connection.Open();
        Execute(connection, "PRAGMA page_size = 4096; CREATE VIRTUAL TABLE rt USING rtree(id, minx, maxx, miny, maxy)");
        var random = new Random(count);
        var boxes = new Dictionary<long, (double MinX, double MaxX, double MinY, double MaxY)>();
        using (var transaction = connection.BeginTransaction())
        {
            using var tree = new GeoPackageRtree(connection.Handle!, "rt", chunkRows);
            for (long fid = 1; fid <= count; fid++)
            {
                if (fid % 13 == 0)
                {
                    continue;
                }

                var x = 440000 + (random.NextDouble() * 450000);
                var y = 6050000 + (random.NextDouble() * 300000);
                // Points and small boxes, with coordinates a float cannot hold exactly.
                var box = fid % 3 == 0 ? (x, x, y, y) : (x, x + (random.NextDouble() * 50), y, y + (random.NextDouble() * 50));
                boxes[fid] = box;
                tree.Add(fid, box.Item1, box.Item2, box.Item3, box.Item4);
            }

            tree.Finish();
            transaction.Commit();
        }

        Assert.Equal("ok", Scalar(connection, "SELECT rtreecheck('rt')"));
        Assert.Equal((long)boxes.Count, Scalar(connection, "SELECT count(*) FROM rt"));
        for (var q = 0; q < 20; q++)
        {
            var x = 440000 + (random.NextDouble() * 450000);
            var y = 6050000 + (random.NextDouble() * 300000);
            var (minX, maxX, minY, maxY) = (x, x + 40000, y, y + 30000);
            var expected = boxes.Where(b => b.Value.MaxX >= minX && b.Value.MinX <= maxX && b.Value.MaxY >= minY && b.Value.MinY <= maxY).Select(b => b.Key).Order().ToList();
            var found = new List<long>();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT id FROM rt WHERE maxx >= $minx AND minx <= $maxx AND maxy >= $miny AND miny <= $maxy ORDER BY id";
            command.Parameters.AddWithValue("$minx", minX);
            command.Parameters.AddWithValue("$maxx", maxX);
            command.Parameters.AddWithValue("$miny", minY);
            command.Parameters.AddWithValue("$maxy", maxY);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                found.Add(reader.GetInt64(0));
            }

            // The float boxes are rounded outward, so the tree may find a feature just outside, never miss one inside.
            Assert.Empty(expected.Except(found));
            Assert.True(found.Count - expected.Count <= 2, $"{found.Count} found, {expected.Count} expected");
        }

        // Stored boxes contain the double ones (rounded outward as SQLite rounds them on insert).
        using (var all = connection.CreateCommand())
        {
            all.CommandText = "SELECT id, minx, maxx, miny, maxy FROM rt";
            using var reader = all.ExecuteReader();
            while (reader.Read())
            {
                var b = boxes[reader.GetInt64(0)];
                Assert.True(reader.GetDouble(1) <= b.MinX && reader.GetDouble(2) >= b.MaxX && reader.GetDouble(3) <= b.MinY && reader.GetDouble(4) >= b.MaxY);
            }
        }
    }

    [Fact]
    public void Rounding_IsSqlitesOwn_SoAPackedBoxEqualsAnInsertedOne()
    {
        using var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        Execute(connection, "CREATE VIRTUAL TABLE rt USING rtree(id, minx, maxx, miny, maxy)");
        var values = new[] { 6170002.123456789, -12.3456789, 0.1, 720001.987654321 };
        foreach (var v in values)
        {
            Execute(connection, $"DELETE FROM rt; INSERT INTO rt VALUES (1, {v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}, {v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}, 0, 0)");
            Assert.Equal((double)GeoPackageRtree.Down(v), Scalar(connection, "SELECT minx FROM rt"));
            Assert.Equal((double)GeoPackageRtree.Up(v), Scalar(connection, "SELECT maxx FROM rt"));
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
