-- A few DAR rows for the e2e run: just enough for every entity of
-- examples/kubernetes/dar-postgres-minio.yaml to produce files. Bitemporal: one row per
-- registration and effect period, so the primary key includes the period starts.
CREATE SCHEMA IF NOT EXISTS dar;

CREATE TABLE dar.navngivenvej (
  id uuid NOT NULL,
  vejnavn text NOT NULL,
  registreringfra timestamptz NOT NULL, registreringtil timestamptz,
  virkningfra timestamptz NOT NULL, virkningtil timestamptz,
  PRIMARY KEY (id, registreringfra, virkningfra));
CREATE TABLE dar.husnummer (
  id uuid NOT NULL,
  navngivenvej uuid NOT NULL,
  husnummertekst text NOT NULL,
  registreringfra timestamptz NOT NULL, registreringtil timestamptz,
  virkningfra timestamptz NOT NULL, virkningtil timestamptz,
  PRIMARY KEY (id, registreringfra, virkningfra));
CREATE TABLE dar.adresse (
  id uuid NOT NULL,
  husnummer uuid NOT NULL,
  etagebetegnelse text, doerbetegnelse text,
  registreringfra timestamptz NOT NULL, registreringtil timestamptz,
  virkningfra timestamptz NOT NULL, virkningtil timestamptz,
  PRIMARY KEY (id, registreringfra, virkningfra));

INSERT INTO dar.navngivenvej VALUES
  ('00000000-0000-0000-0000-000000000001', 'Rådhuspladsen', '2020-01-01Z', NULL, '2020-01-01Z', NULL);
INSERT INTO dar.husnummer VALUES
  ('00000000-0000-0000-0000-000000000011', '00000000-0000-0000-0000-000000000001', '1', '2020-01-01Z', NULL, '2020-01-01Z', NULL),
  ('00000000-0000-0000-0000-000000000012', '00000000-0000-0000-0000-000000000001', '3', '2020-01-01Z', NULL, '2020-01-01Z', NULL);
INSERT INTO dar.adresse VALUES
  ('00000000-0000-0000-0000-000000000101', '00000000-0000-0000-0000-000000000011', NULL, NULL, '2020-01-01Z', NULL, '2020-01-01Z', NULL),
  ('00000000-0000-0000-0000-000000000102', '00000000-0000-0000-0000-000000000012', '1', 'th', '2020-01-01Z', '2024-06-01Z', '2020-01-01Z', NULL),
  ('00000000-0000-0000-0000-000000000102', '00000000-0000-0000-0000-000000000012', '1', 'tv', '2024-06-01Z', NULL, '2020-01-01Z', NULL);
