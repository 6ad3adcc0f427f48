#!/usr/bin/env node
// Offline Kubernetes manifest validator.
//
//   node tools/k8s-validate/validate.mjs [--crd FILE] [--no-strict] <file-or-dir>...
//
// Built-in kinds are checked against the upstream OpenAPI schemas shipped in `kubernetes-models`,
// ExportSchedule objects against the openAPIV3Schema of our CRD (ajv), so CI catches what
// `kubectl apply` would reject without needing a cluster. Exit 1 if any object fails.
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, resolve, dirname, extname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import Ajv from "ajv";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..");
const CUSTOM_GROUP = "bulkexport.io";
const CUSTOM_KIND = "ExportSchedule";

function usage(code) {
  const out = code === 0 ? console.log : console.error;
  out(`usage: validate.mjs [--crd FILE] [--no-strict] <file-or-dir>...
  Validates every object in the given .yaml/.yml/.json files (directories are walked; - is stdin).
  --crd FILE    CRD used for ExportSchedule objects (default: crds/exportschedules.bulkexport.io.yaml)
  --no-strict   do not report fields the schema does not know (kubectl rejects them by default)`);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = { crd: join(repoRoot, "crds", "exportschedules.bulkexport.io.yaml"), strict: true, paths: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") usage(0);
    else if (a === "--crd") { if (!argv[i + 1]) usage(2); opts.crd = resolve(argv[++i]); }
    else if (a.startsWith("--crd=")) opts.crd = resolve(a.slice(6));
    else if (a === "--no-strict") opts.strict = false;
    else if (a.startsWith("-") && a !== "-") { console.error(`unknown option ${a}`); usage(2); }
    else opts.paths.push(a);
  }
  if (opts.paths.length === 0) usage(2);
  return opts;
}

function collectFiles(p, acc) {
  if (p === "-") { acc.push("-"); return acc; }
  if (!existsSync(p)) throw new Error(`no such file or directory: ${p}`);
  if (statSync(p).isDirectory()) {
    for (const e of readdirSync(p).sort()) {
      if (e === "node_modules" || e.startsWith(".")) continue;
      collectFiles(join(p, e), acc);
    }
  } else if ([".yaml", ".yml", ".json"].includes(extname(p).toLowerCase())) {
    acc.push(p);
  }
  return acc;
}

// Returns [{ source, obj }] or [{ source, parseError }]; empty YAML documents are dropped.
function loadObjects(file) {
  // "-" is standard input (e.g. `helm template … | validate.mjs -`), always read as YAML.
  const text = readFileSync(file === "-" ? 0 : file, "utf8");
  if (extname(file).toLowerCase() === ".json") {
    try { return [{ source: file, obj: JSON.parse(text) }]; }
    catch (e) { return [{ source: file, parseError: e.message }]; }
  }
  const out = [];
  parseAllDocuments(text).forEach((doc, i) => {
    const source = `${file}#${i}`;
    if (doc.errors.length) out.push({ source, parseError: doc.errors.map((e) => e.message).join("; ") });
    else {
      const obj = doc.toJS({ maxAliasCount: 1000 });
      if (obj !== null && obj !== undefined) out.push({ source, obj });
    }
  });
  return out;
}

// --- built-in kinds -------------------------------------------------------------------------

const moduleCache = new Map();
async function builtinClass(apiVersion, kind) {
  // core/v1 lives at "kubernetes-models/v1", everything else at "kubernetes-models/<group>/<version>".
  const spec = `kubernetes-models/${apiVersion}`;
  if (!/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion)) return undefined;
  if (!moduleCache.has(spec)) moduleCache.set(spec, import(spec).catch(() => null));
  const mod = await moduleCache.get(spec);
  const cls = mod?.[kind];
  return cls && cls.kind === kind && cls.apiVersion === apiVersion ? cls : undefined;
}

function validateBuiltin(cls, obj) {
  try {
    new cls(obj).validate();
    return [];
  } catch (e) {
    if (!Array.isArray(e.errors)) throw e;
    return e.errors.map((err) => ({ path: err.instancePath || "/", message: describe(err) }));
  }
}

// kubernetes-models' schemas do not forbid unknown properties, while kubectl (strict field
// validation) does, and a typo such as `readinesProbe` silently drops the probe. The schemas are
// shipped as compiled validators, so probe them: replace a field with a value that no typed schema
// accepts; if that produces no error at the field's path, the schema does not know the field.
const SENTINEL = Symbol("unknown-field-probe");
function unknownFields(cls, root) {
  const found = [];
  const errorsAt = (path) => {
    try { new cls(root).validate(); return false; }
    catch (e) { return (e.errors ?? []).some((err) => err.instancePath === path || err.instancePath.startsWith(path + "/")); }
  };
  const walk = (node, path) => {
    if (Array.isArray(node)) { node.forEach((v, i) => walk(v, `${path}/${i}`)); return; }
    if (node === null || typeof node !== "object") return;
    for (const key of Object.keys(node)) {
      const p = `${path}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;
      if (/\/openAPIV3Schema$/.test(p)) continue; // JSON Schema keywords accept arbitrary JSON (default, example, enum)
      if (checkField(node, key, p)) walk(node[key], p);
    }
  };
  // Returns whether the field is known (then its children are worth checking).
  const checkField = (node, key, p) => {
    if (p === "/apiVersion" || p === "/kind") return false;
    const saved = node[key];
    node[key] = SENTINEL;
    const known = errorsAt(p);
    node[key] = saved;
    if (!known) found.push({ path: p, message: "unknown field (not in the upstream schema)" });
    return known;
  };
  walk(root, "");
  return found;
}

function describe(err) {
  const p = err.params ?? {};
  switch (err.keyword) {
    case "required": return `missing required field "${p.missingProperty}"`;
    case "enum": return `must be one of ${JSON.stringify(p.allowedValues)}`;
    case "additionalProperties": return `unknown field "${p.additionalProperty}"`;
    default: return err.message ?? err.keyword;
  }
}

// --- ExportSchedule (CRD schema via ajv) ------------------------------------------------------

// Turns a CRD structural schema into plain JSON Schema for ajv: int-or-string becomes anyOf, and
// (when strict) objects without x-kubernetes-preserve-unknown-fields reject unknown properties,
// which is what the API server's strict field validation does. Other x-kubernetes-* keywords
// carry no instance constraint ajv could check and are left for ajv to ignore.
function toAjvSchema(s, strict) {
  if (Array.isArray(s)) return s.map((x) => toAjvSchema(x, strict));
  if (s === null || typeof s !== "object") return s;
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith("x-kubernetes-")) continue;
    if (k === "properties" || k === "patternProperties" || k === "definitions") {
      out[k] = Object.fromEntries(Object.entries(v).map(([n, sub]) => [n, toAjvSchema(sub, strict)]));
    } else if (["default", "example", "enum", "const"].includes(k)) {
      out[k] = v;
    } else {
      out[k] = toAjvSchema(v, strict);
    }
  }
  if (s["x-kubernetes-int-or-string"] && !s.type && !s.anyOf && !s.oneOf) {
    out.anyOf = [{ type: "integer" }, { type: "string" }];
  }
  if (strict && s.properties && s.additionalProperties === undefined && !s["x-kubernetes-preserve-unknown-fields"]) {
    out.additionalProperties = false;
  }
  return out;
}

function makeAjv() {
  const ajv = new Ajv({ allErrors: true, strict: false, logger: false });
  // Formats the Kubernetes OpenAPI uses; unchecked ones are accepted so a valid CRD never fails.
  const isInt = (min, max) => ({ type: "number", validate: (n) => Number.isInteger(n) && n >= min && n <= max });
  ajv.addFormat("int32", isInt(-(2 ** 31), 2 ** 31 - 1));
  ajv.addFormat("int64", isInt(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
  ajv.addFormat("date-time", /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/);
  ajv.addFormat("date", /^\d{4}-\d{2}-\d{2}$/);
  for (const f of ["float", "double", "byte", "binary", "password", "duration", "quantity", "uri", "hostname", "email", "uuid", "ipv4", "ipv6", "cidr", "mac"]) {
    ajv.addFormat(f, true);
  }
  return ajv;
}

function loadCrdValidators(crdPath, strict) {
  if (!existsSync(crdPath)) return { missing: `CRD file not found: ${crdPath} (needed to validate ${CUSTOM_KIND}; pass --crd FILE)` };
  const docs = loadObjects(crdPath).filter((d) => d.obj?.kind === "CustomResourceDefinition");
  const crd = docs.find((d) => d.obj.spec?.group === CUSTOM_GROUP && d.obj.spec?.names?.kind === CUSTOM_KIND)?.obj;
  if (!crd) return { missing: `${crdPath} holds no CustomResourceDefinition for ${CUSTOM_KIND}.${CUSTOM_GROUP}` };
  const ajv = makeAjv();
  const byVersion = new Map();
  for (const v of crd.spec.versions ?? []) {
    const schema = v.schema?.openAPIV3Schema;
    if (!schema) continue;
    try { byVersion.set(`${CUSTOM_GROUP}/${v.name}`, ajv.compile(toAjvSchema(schema, strict))); }
    catch (e) { return { missing: `${crdPath}: openAPIV3Schema of ${v.name} does not compile: ${e.message}` }; }
  }
  return { byVersion };
}

function validateCustom(crd, obj) {
  const validate = crd.byVersion.get(obj.apiVersion);
  if (!validate) return [{ path: "/apiVersion", message: `no served schema for ${obj.apiVersion} in the CRD (has: ${[...crd.byVersion.keys()].join(", ")})` }];
  // The CRD leaves metadata to the API server; at least what it would reject without a name.
  const errors = [];
  if (!obj.metadata?.name) errors.push({ path: "/metadata/name", message: "missing required field \"name\"" });
  const { metadata, ...rest } = obj;
  if (!validate({ ...rest, metadata: metadata ?? {} })) {
    for (const err of validate.errors) errors.push({ path: err.instancePath || "/", message: describe(err) });
  }
  return errors;
}

// --- main -----------------------------------------------------------------------------------

function label(obj) {
  const name = obj?.metadata?.name ?? obj?.metadata?.generateName ?? "<no name>";
  return obj?.metadata?.namespace ? `${obj.metadata.namespace}/${name}` : name;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let files;
  try { files = opts.paths.flatMap((p) => collectFiles(p === "-" ? p : resolve(p), [])); }
  catch (e) { console.error(e.message); process.exit(2); }
  let crd; // loaded on first ExportSchedule only, so plain manifests do not need the CRD file
  let failed = 0, total = 0, sawCustom = false;

  for (const file of files) {
    for (const { source, obj, parseError } of loadObjects(file)) {
      total++;
      let kind = obj?.kind ?? "<no kind>";
      let errors;
      if (parseError) { kind = "<unparsable>"; errors = [{ path: "/", message: `YAML/JSON parse error: ${parseError}` }]; }
      else if (typeof obj !== "object" || Array.isArray(obj) || !obj.apiVersion || !obj.kind) {
        errors = [{ path: "/", message: "not a Kubernetes object (apiVersion and kind are required)" }];
      } else if (obj.kind === CUSTOM_KIND && obj.apiVersion.startsWith(`${CUSTOM_GROUP}/`)) {
        sawCustom = true;
        crd ??= loadCrdValidators(opts.crd, opts.strict);
        errors = crd.missing ? [{ path: "/", message: crd.missing }] : validateCustom(crd, obj);
      } else {
        const cls = await builtinClass(obj.apiVersion, obj.kind);
        if (!cls) errors = [{ path: "/", message: `unknown kind ${obj.apiVersion}/${obj.kind}: no upstream schema in kubernetes-models and not ${CUSTOM_KIND}` }];
        else {
          errors = validateBuiltin(cls, obj);
          if (!obj.metadata?.name && !obj.metadata?.generateName) errors.push({ path: "/metadata/name", message: "missing required field \"name\"" });
          if (opts.strict) errors.push(...unknownFields(cls, structuredClone(obj)));
        }
      }
      if (errors.length === 0) console.log(`ok ${kind} ${label(obj)}`);
      else {
        failed++;
        console.log(`FAIL ${kind} ${label(obj)} (${source})`);
        for (const e of errors) console.log(`  ${e.path}: ${e.message}`);
      }
    }
  }
  if (sawCustom && crd && !crd.missing) console.log(`note: ${CUSTOM_KIND} CEL rules (x-kubernetes-validations) are not evaluated`);
  console.log(`${total - failed} valid, ${failed} invalid, ${total} objects in ${files.length} files`);
  if (total === 0) { console.error("no objects found"); process.exit(1); }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(e.stack ?? String(e)); process.exit(2); });
