-- The bench entity: N rows (psql -v n=…) of ten mixed columns. Deterministic, so runs compare.
DROP TABLE IF EXISTS public.bench;
CREATE TABLE public.bench (
  id      bigint PRIMARY KEY,
  name    text NOT NULL,
  amount  numeric(14,2),
  changed timestamptz NOT NULL,
  day     date,
  active  boolean,
  ref     uuid,
  doc     jsonb,
  score   double precision,
  tags    integer[]
);
INSERT INTO public.bench
SELECT i,
       'name-' || i || repeat('x', (i % 20)::int),
       (i * 7.31)::numeric(14,2),
       timestamptz '2020-01-01 00:00:00Z' + i * interval '1 second',
       date '2000-01-01' + (i % 9000)::int,
       i % 3 = 0,
       md5(i::text)::uuid,
       jsonb_build_object('i', i, 'tag', 't' || (i % 100), 'ok', i % 2 = 0),
       i / 7.0,
       ARRAY[(i % 10)::int, (i % 100)::int, (i % 100000)::int]
FROM generate_series(1, :n) AS i;
VACUUM ANALYZE public.bench;
