using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using BulkExport.Api;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BulkExport.Exporter.Sources.Postgres;

/// <summary>
/// <c>changeDetection: xmin</c> for a PostgreSQL table: the watermark a generation's state records (its snapshot's
/// xmin, as a 64-bit xid, and a signature of everything besides the rows that decides the published values), and
/// the read of a later delta that sends every key but the other columns only of rows whose xmin is at or after that
/// horizon. Every xid at or after a snapshot's xmin was running or not yet assigned when the snapshot was taken
/// (subtransactions' xids are above their parents', prepared transactions stay running), so "xmin at or after the
/// horizon" is a superset of "written since". Anything that cannot be proven the same as at the base (another
/// cluster or timeline, a server restarted since, another table behind the name, another column, type, enum label,
/// generation expression, setting, server or extension version, exporter build, a horizon 2^31 xids back) reads
/// every row instead, and says why.
/// </summary>
internal static class PostgresChangeTracking
{
    private const int WatermarkVersion = 1;
    private const long XidSpace = 1L << 32;

    // One statement, so it costs one round trip on the read's own connection and sees the read's snapshot.
    // Types are followed through arrays and domains to the types that render the text; an enum's labels in
    // order are part of it (ALTER TYPE … RENAME VALUE changes the text of rows whose xmin it does not touch).
    private const string SignatureSql = """
        WITH RECURSIVE rel AS (
          SELECT c.oid, c.relkind FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)
        ), tree(oid) AS (
          SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = (SELECT oid FROM rel)
          UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid
        ), cols AS (
          SELECT a.attnum, a.attname, a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attcollation,
            a.attgenerated::text || coalesce(' ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid), '') AS generated
          FROM pg_catalog.pg_attribute a
          LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.attgenerated <> ''
          WHERE a.attrelid = (SELECT oid FROM rel) AND a.attnum > 0 AND NOT a.attisdropped
        ), types(oid) AS (
          SELECT atttypid FROM cols
          UNION SELECT v.x FROM pg_catalog.pg_type t JOIN types ON t.oid = types.oid,
            LATERAL (VALUES (NULLIF(t.typelem, 0)), (NULLIF(t.typbasetype, 0))) AS v(x) WHERE v.x IS NOT NULL
        )
        SELECT
          (SELECT relkind::text FROM rel),
          (SELECT oid::text FROM rel),
          coalesce((SELECT string_agg(oid::text, ',' ORDER BY oid) FROM tree), ''),
          (SELECT string_agg(attnum || ' ' || quote_ident(attname) || ' ' || atttypid || ' ' || type || ' ' || attcollation || ' ' || generated, ', ' ORDER BY attnum) FROM cols),
          (SELECT string_agg(t.oid || ' ' || t.typtype::text || ' ' || t.typname
             || coalesce(' (' || (SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) || ')', ''),
             ', ' ORDER BY t.oid) FROM pg_catalog.pg_type t WHERE t.oid IN (SELECT oid FROM types)),
          coalesce((SELECT string_agg(t.typname || ' (' || t.typtype::text || ')', ', ' ORDER BY t.typname) FROM pg_catalog.pg_type t
             WHERE t.oid IN (SELECT oid FROM types) AND t.typtype NOT IN ('b', 'e', 'd')), ''),
          (SELECT system_identifier::text FROM pg_catalog.pg_control_system()),
          (SELECT timeline_id::text FROM pg_catalog.pg_control_checkpoint()),
          (SELECT oid::text FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()),
          pg_catalog.current_setting('server_version_num'),
          pg_catalog.pg_postmaster_start_time()::text,
          pg_catalog.pg_is_in_recovery()::text,
          current_user::text,
          coalesce((SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_catalog.pg_extension), ''),
          pg_catalog.current_setting('DateStyle'),
          pg_catalog.current_setting('IntervalStyle'),
          pg_catalog.current_setting('lc_monetary'),
          pg_catalog.current_setting('extra_float_digits'),
          pg_catalog.current_setting('TimeZone'),
          pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text,
          pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text
        """;

    // The signature's parts by the statement's columns 6.. (relation, children, columns and types come first).
    private static readonly string[] ServerParts =
        ["system_identifier", "timeline_id", "database oid", "server_version_num", "server start", "pg_is_in_recovery", "current_user", "extensions", "DateStyle", "IntervalStyle", "lc_monetary", "extra_float_digits", "TimeZone"];

    // "server start": a server that went back in time (a restored file-system snapshot, pg_resetwal, another standby
    // behind the same address) keeps its system identifier and timeline, and its xids may pass the base's again; each
    // of those starts the server anew. The price is one full compare after every restart.

    /// <summary>The exporter build: a new one may render or digest values differently, so an old state's digests are not its own.</summary>
    private static readonly string ExporterBuild =
        typeof(PostgresChangeTracking).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(PostgresChangeTracking).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>
    /// The plan with this snapshot's watermark and, when <see cref="ReadRequest.ChangedSince"/> can be honoured
    /// exactly, reading changed rows only; otherwise the plan reads every row, and the log says why.
    /// </summary>
    public static async Task<PostgresQueryPlan> ApplyAsync(NpgsqlConnection connection, EntitySpec entity, PostgresQueryPlan plan, ReadRequest request, PostgresCopyDecoder decoder, ILogger logger, CancellationToken cancellationToken)
    {
        var current = await ReadAsync(connection, entity, plan, logger, cancellationToken).ConfigureAwait(false);
        var watermarked = plan.WithWatermark(current?.ToBytes());
        if (request.ChangedSince is not { } since)
        {
            return watermarked;
        }

        string? reason;
        if (current is null)
        {
            reason = "this snapshot has no watermark (see the previous message)";
        }
        else if (decoder != PostgresCopyDecoder.Raw)
        {
            reason = "the Npgsql reference decoder reads every row";
        }
        else
        {
            var previous = Watermark.Parse(since);
            reason = previous is null ? "the base's watermark is not one this exporter reads" : current.Compare(previous);
            if (reason is null)
            {
                var condition = ChangedCondition(previous!.Xmin, current.Xmax);
                logger.ChangedRowsRead(entity.Name, previous.Xmin, current.Xmax);
                return watermarked.WithChangedRows(entity, condition, request);
            }
        }

        logger.FullCompare(entity.Name, reason);
        return watermarked;
    }

    /// <summary>
    /// SQL true for a tuple of table alias <c>t</c> whose xmin may be at or after <paramref name="horizon"/>, given that
    /// every visible tuple's xmin is before <paramref name="nextXid"/> (the snapshot's xmax), both 64-bit. xmin is the
    /// 32-bit xid, so its distance back from nextXid is taken modulo 2^32: a tuple written at or after the horizon is
    /// less than <c>nextXid − horizon</c> (under 2^31, checked) behind, exactly. A tuple further back may land in the
    /// window only by wrapping, which makes it "changed": an error only ever costs a digest. The special xids (0-2:
    /// invalid, bootstrap, frozen as pre-9.4 servers wrote it) say nothing about age, so they count as changed.
    /// </summary>
    internal static string ChangedCondition(long horizon, long nextXid)
    {
        var span = nextXid - horizon;
        if (span < 0 || span >= 1L << 31)
        {
            throw new ArgumentOutOfRangeException(nameof(nextXid), "the horizon must be at most 2^31 xids back");
        }

        var low = nextXid & (XidSpace - 1);
        // (x + shift) mod 2^32 = (x − (low − span)) mod 2^32: the distance of x above the window's start.
        var shift = ((span - low) % XidSpace + XidSpace) % XidSpace;
        return string.Create(CultureInfo.InvariantCulture,
            $"(t.xmin::text::bigint + {shift}) % {XidSpace} <= {span} OR t.xmin = '2'::xid OR t.xmin = '1'::xid OR t.xmin = '0'::xid");
    }

    private static async Task<Watermark?> ReadAsync(NpgsqlConnection connection, EntitySpec entity, PostgresQueryPlan plan, ILogger logger, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(entity.Table) || entity.Temporal is not null)
        {
            logger.NoWatermark(entity.Name, "only a non-temporal table entity has row versions to track");
            return null;
        }

        if (connection.PostgreSqlVersion.Major < 13)
        {
            logger.NoWatermark(entity.Name, $"PostgreSQL {connection.PostgreSqlVersion} has no pg_current_snapshot() (13 and later do)");
            return null;
        }

        // Its own savepoint: a failure (no privilege on pg_control_system(), say) must leave the read usable.
        await PostgresSnapshot.ExecuteAsync(connection, "SAVEPOINT bulkexport_watermark", cancellationToken).ConfigureAwait(false);

        string?[] values;
        try
        {
            await using var command = new NpgsqlCommand(SignatureSql, connection);
            command.Parameters.AddWithValue(PostgresQueryPlan.QuoteQualified(entity.Table));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            values = new string?[reader.FieldCount];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = reader.IsDBNull(i) ? null : reader.GetString(i);
            }
        }
        catch (PostgresException e)
        {
            await PostgresSnapshot.ExecuteAsync(connection, "ROLLBACK TO SAVEPOINT bulkexport_watermark; RELEASE SAVEPOINT bulkexport_watermark", cancellationToken).ConfigureAwait(false);
            logger.NoWatermark(entity.Name, $"reading the table's signature failed: {e.SqlState} {e.MessageText}");
            return null;
        }

        await PostgresSnapshot.ExecuteAsync(connection, "RELEASE SAVEPOINT bulkexport_watermark", cancellationToken).ConfigureAwait(false);

        if (values[0] is not ("r" or "p"))
        {
            logger.NoWatermark(entity.Name, values[0] is null ? $"{entity.Table} is not a relation this role can see" : $"{entity.Table} has relkind '{values[0]}', not a table, so its rows have no versions to track");
            return null;
        }

        if (values[5] is { Length: > 0 } unsupported)
        {
            logger.NoWatermark(entity.Name, $"a column has a type whose text the signature cannot pin ({unsupported}: composite, range or other)");
            return null;
        }

        var signature = new List<KeyValuePair<string, string>>
        {
            new("exporter", ExporterBuild),
            new("relation oid", values[1]!),
            new("partitions and children", values[2]!),
            new("columns", values[3] ?? ""),
            new("column types", values[4] ?? ""),
            // The projection (the spec's key and the plan's column list) decides which values a row digest covers.
            new("projection", string.Join(", ", entity.Key) + " | " + string.Join(", ", plan.Columns.Select(c => $"{c.Column.Name} {c.Column.SqlType} {c.Read}"))),
        };
        for (var i = 0; i < ServerParts.Length; i++)
        {
            signature.Add(new(ServerParts[i], values[6 + i] ?? ""));
        }

        var at = 6 + ServerParts.Length;
        return new Watermark(
            long.Parse(values[at]!, CultureInfo.InvariantCulture),
            long.Parse(values[at + 1]!, CultureInfo.InvariantCulture),
            signature);
    }

    /// <param name="Xmin">The snapshot's xmin: every xid below it had ended when the snapshot was taken.</param>
    /// <param name="Xmax">The snapshot's xmax: every visible tuple's xmin is below it.</param>
    /// <param name="Signature">What else decides the rows' published values, by name, in a fixed order.</param>
    internal sealed record Watermark(long Xmin, long Xmax, IReadOnlyList<KeyValuePair<string, string>> Signature)
    {
        public byte[] ToBytes()
        {
            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteNumber("version", WatermarkVersion);
                json.WriteString("xmin", Xmin.ToString(CultureInfo.InvariantCulture));
                json.WriteString("xmax", Xmax.ToString(CultureInfo.InvariantCulture));
                json.WriteStartArray("signature");
                foreach (var (name, value) in Signature)
                {
                    json.WriteStartArray();
                    json.WriteStringValue(name);
                    json.WriteStringValue(value);
                    json.WriteEndArray();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            return buffer.ToArray();
        }

        /// <summary>The watermark <see cref="ToBytes"/> wrote; null for anything else.</summary>
        public static Watermark? Parse(byte[] bytes)
        {
            try
            {
                using var document = JsonDocument.Parse(bytes);
                var root = document.RootElement;
                if (root.GetProperty("version").GetInt32() != WatermarkVersion)
                {
                    return null;
                }

                var signature = root.GetProperty("signature").EnumerateArray()
                    .Select(p => new KeyValuePair<string, string>(p[0].GetString()!, p[1].GetString()!)).ToList();
                return new Watermark(
                    long.Parse(root.GetProperty("xmin").GetString()!, CultureInfo.InvariantCulture),
                    long.Parse(root.GetProperty("xmax").GetString()!, CultureInfo.InvariantCulture),
                    signature);
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException or IndexOutOfRangeException or ArgumentNullException)
            {
                return null;
            }
        }

        /// <summary>Why this snapshot's read cannot be limited to rows changed since <paramref name="previous"/>; null when it can.</summary>
        public string? Compare(Watermark previous)
        {
            var before = previous.Signature.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            foreach (var (name, value) in Signature)
            {
                if (!before.TryGetValue(name, out var old))
                {
                    return $"the base's signature has no {name}";
                }

                if (!string.Equals(old, value, StringComparison.Ordinal))
                {
                    return $"the {name} changed since the base (was '{Shorten(old)}', now '{Shorten(value)}')";
                }
            }

            if (Xmin < previous.Xmin || Xmax < previous.Xmax)
            {
                return $"this snapshot (xmin {Xmin}, xmax {Xmax}) is older than the base's (xmin {previous.Xmin}, xmax {previous.Xmax})";
            }

            if (Xmax - previous.Xmin >= 1L << 31)
            {
                return $"the base's horizon (xid {previous.Xmin}) is 2^31 or more xids behind this snapshot's next xid ({Xmax})";
            }

            return null;
        }

        private static string Shorten(string text) => text.Length <= 200 ? text : new StringBuilder(text, 0, 200, 203).Append("...").ToString();
    }
}
