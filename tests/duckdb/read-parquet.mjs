// Reads a Parquet file with DuckDB and prints, as one JSON document, what the exporter tests compare
// with the source rows: column names and DuckDB types, every row (values as DuckDB's JSON-safe
// spellings), DuckDB's WKT of the geometry columns, the file's key/value metadata, and the row groups' row counts.
//   node read-parquet.mjs FILE.parquet
import { DuckDBInstance } from '@duckdb/node-api';

const file = process.argv[2];
if (!file) {
  console.error('usage: node read-parquet.mjs FILE.parquet');
  process.exit(2);
}
const quoted = `'${file.replaceAll("'", "''")}'`;
const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
await connection.run(`SET TimeZone = 'UTC'`);
const describe = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${quoted})`);
// DuckDB reads a GeoParquet geometry column as GEOMETRY('<crs>'): the type and the CRS are reported apart.
const columns = describe.getRowObjectsJson().map(r => {
  const geometry = /^GEOMETRY(?:\('(.*)'\))?$/s.exec(r.column_type);
  return geometry
    ? { name: r.column_name, type: 'GEOMETRY', crs: geometry[1]?.replaceAll("''", "'") ?? null }
    : { name: r.column_name, type: r.column_type };
});
// Blobs as hex, so a WKB or byte column compares exactly; everything else as DuckDB's text cast,
// which keeps decimals exact and spells timestamps in ISO form.
const select = columns.map(c => {
  const id = `"${c.name.replaceAll('"', '""')}"`;
  return c.type === 'GEOMETRY' ? `hex(ST_AsWKB(${id}))` : c.type === 'BLOB' ? `hex(${id})` : `CAST(${id} AS VARCHAR)`;
}).join(', ');
const rows = (await connection.runAndReadAll(`SELECT ${select} FROM read_parquet(${quoted})`)).getRowsJson();
// And DuckDB's own WKT of every geometry column (NULL for the others), which shows a Z it read.
const wktSelect = columns.map(c => c.type === 'GEOMETRY' ? `ST_AsText("${c.name.replaceAll('"', '""')}")` : 'NULL').join(', ');
const wkt = (await connection.runAndReadAll(`SELECT ${wktSelect} FROM read_parquet(${quoted})`)).getRowsJson();
const metadata = {};
for (const r of (await connection.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${quoted})`)).getRowObjectsJson()) {
  metadata[r.k] = r.v;
}
const rowGroups = (await connection.runAndReadAll(`SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata(${quoted}) ORDER BY row_group_id`))
  .getRowObjectsJson().map(r => Number(r.row_group_num_rows));
const codecs = (await connection.runAndReadAll(`SELECT DISTINCT compression FROM parquet_metadata(${quoted})`)).getRowObjectsJson().map(r => r.compression);
process.stdout.write(JSON.stringify({ columns, rows, wkt, metadata, rowGroups, codecs }));
