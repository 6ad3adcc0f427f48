// Runs the CLI as users and CI do, on fixtures with known verdicts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const dir = dirname(fileURLToPath(import.meta.url));
const cli = join(dir, "..", "validate.mjs");
const td = (f) => join(dir, "..", "testdata", f);
const run = (...args) => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout + r.stderr };
};

test("valid CronJob passes", () => {
  const r = run(td("cronjob-valid.yaml"));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^ok CronJob exports\/dar-total$/m);
});

test("invalid CronJobs fail with the JSON path of each problem", () => {
  const r = run(td("cronjob-invalid.yaml"));
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /FAIL CronJob missing-schedule[\s\S]*\/spec: missing required field "schedule"/);
  assert.match(r.out, /FAIL CronJob bad-enum[\s\S]*\/spec\/concurrencyPolicy: must be one of/);
  assert.match(r.out, /FAIL CronJob typo-field[\s\S]*\/containers\/0\/readinesProbe: unknown field/);
  assert.match(r.out, /0 valid, 3 invalid/);
});

test("--no-strict lets unknown fields through but not schema errors", () => {
  const r = run("--no-strict", td("cronjob-invalid.yaml"));
  assert.equal(r.code, 1);
  assert.match(r.out, /^ok CronJob typo-field$/m);
  assert.match(r.out, /FAIL CronJob bad-enum/);
});

test("ExportSchedule is checked against the CRD's openAPIV3Schema", () => {
  const ok = run("--crd", td("exportschedule-crd.yaml"), td("exportschedule-valid.yaml"));
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /^ok ExportSchedule exports\/dar$/m);
  assert.match(ok.out, /CEL rules .* not evaluated/);
  const bad = run("--crd", td("exportschedule-crd.yaml"), td("exportschedule-invalid.yaml"));
  assert.equal(bad.code, 1, bad.out);
  assert.match(bad.out, /\/spec: unknown field "totl"/);
  assert.match(bad.out, /\/spec\/register: must match pattern/);
  assert.match(bad.out, /\/spec\/output\/formats\/0: must be one of/);
});

test("ExportSchedule without the CRD file fails with a clear message", () => {
  const r = run("--crd", td("does-not-exist.yaml"), td("exportschedule-valid.yaml"));
  assert.equal(r.code, 1);
  assert.match(r.out, /CRD file not found: .*does-not-exist\.yaml/);
});

test("the CRD itself validates against apiextensions/v1", () => {
  const r = run(td("exportschedule-crd.yaml"));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^ok CustomResourceDefinition exportschedules\.bulkexport\.io$/m);
});

test("unknown kinds are an error", () => {
  const r = run(td("unknown-kind.yaml"));
  assert.equal(r.code, 1);
  assert.match(r.out, /unknown kind example\.com\/v1\/Widget/);
});

test("- reads standard input", () => {
  const r = spawnSync(process.execPath, [cli, "-"], { encoding: "utf8", input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\ndata: {a: b}\n" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok ConfigMap n\/c$/m);
});
