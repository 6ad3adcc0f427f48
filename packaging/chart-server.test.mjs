// The download service's part of the chart (templates/server-*.yaml): off by default; with
// ci/server-values.yaml and with local storage it renders a hardened Deployment, Service, Ingress and
// ConfigMap that validate against the upstream schemas, and whose rendered config the server accepts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const chart = join(root, "charts", "bulkexport-operator");
const helm = process.env.HELM ?? join(root, ".tools", "bin", "helm");
const validator = join(root, "tools", "k8s-validate", "validate.mjs");
const serverDll = join(root, "server", "bin", "Release", "net10.0", "server.dll");
const { parseAllDocuments } = createRequire(join(root, "tools", "k8s-validate", "package.json"))("yaml");

const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", cwd: root });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
};
const out = mkdtempSync(join(tmpdir(), "chart-server-"));
const render = (name, ...args) => {
  const r = run(helm, ["template", "rel", chart, "--namespace", "bulkexport", ...args]);
  assert.equal(r.code, 0, r.out);
  const file = join(out, `${name}.yaml`);
  writeFileSync(file, r.stdout);
  return { file, objects: parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean) };
};
const localArgs = [
  "--set", "server.enabled=true",
  "--set", "server.settings.allowedHosts={downloads.example.org}",
  "--set", "server.storageClaim.name=exports",
  "--set", "server.storageClaim.mountPath=/exports",
  "--set-json", `server.schedules={"dar":{"apiVersion":"bulkexport.io/v1alpha1","kind":"ExportSchedule","metadata":{"name":"dar"},"spec":{"register":"DAR","total":{"schedule":"0 3 * * 6"},"delta":{"schedule":"0 3 * * *"},"source":{"files":{"path":"/data"}},"entities":[{"name":"Adresse","key":["id"]}],"storage":{"local":{"path":"/exports"}}}}}`,
];
const clusterArgs = ["--set", "server.enabled=true", "--set", "server.settings.publicBaseUrl=https://downloads.example.org", "--set", "server.namespaces={registers,exports}", "--set", "server.storageCredentialsSecret=s3-readonly"];
const renders = {
  default: render("default"),
  cluster: render("server-cluster", ...clusterArgs),
  clusterAll: render("server-cluster-all", "--set", "server.enabled=true", "--set", "server.settings.publicBaseUrl=https://downloads.example.org", "--set", "server.namespaces={*}"),
  clusterSecrets: render("server-cluster-secrets", ...clusterArgs, "--set", "server.scheduleStorageSecrets=true"),
  s3: render("server-s3", "-f", join(chart, "ci", "server-values.yaml")),
  local: render("server-local", ...localArgs),
};
const serverObjects = (r) => r.objects.filter((o) => o.metadata?.labels?.["app.kubernetes.io/component"] === "server");
const ofKind = (r, kind) => serverObjects(r).filter((o) => o.kind === kind);
const pod = (r) => ofKind(r, "Deployment")[0].spec.template.spec;

test("default values render no server object", () => {
  assert.deepEqual(serverObjects(renders.default), []);
});

test("helm lint --strict passes with the server enabled", () => {
  for (const args of [["-f", join(chart, "ci", "server-values.yaml")], localArgs, clusterArgs]) {
    const r = run(helm, ["lint", "--strict", chart, ...args]);
    assert.equal(r.code, 0, r.out);
  }
});

test("every rendered server object validates against the upstream schemas", () => {
  const r = run(process.execPath, [validator, renders.s3.file, renders.local.file, renders.cluster.file, renders.clusterAll.file]);
  assert.equal(r.code, 0, r.out);
  for (const kind of ["Deployment", "Service", "Ingress", "ConfigMap"]) {
    assert.match(r.out, new RegExp(`^ok ${kind} bulkexport/rel-bulkexport-operator-server$`, "m"));
  }
});

test("server pod: the operator's hardened security, no API token unless in cluster mode, read-only mounts, probes", () => {
  for (const [name, r] of [["s3", renders.s3], ["local", renders.local], ["cluster", renders.cluster]]) {
    const spec = pod(r);
    const c = spec.containers[0];
    assert.equal(spec.automountServiceAccountToken, name === "cluster", name);
    assert.equal(spec.securityContext.runAsNonRoot, true, name);
    assert.equal(spec.securityContext.seccompProfile.type, "RuntimeDefault", name);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true, name);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false, name);
    assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"], name);
    for (const m of c.volumeMounts.filter((m) => m.name !== "tmp")) assert.equal(m.readOnly, true, `${name}: ${m.name} mounted read-write`);
    assert.equal(c.readinessProbe.httpGet.path, "/readyz", name);
    assert.equal(c.livenessProbe.httpGet.path, "/healthz", name);
    assert.ok(c.resources.limits.memory, name);
  }
  const local = pod(renders.local);
  assert.equal(local.volumes.find((v) => v.name === "storage").persistentVolumeClaim.readOnly, true);
  assert.equal(local.containers[0].volumeMounts.find((m) => m.name === "storage").mountPath, "/exports");
});

test("S3 values: read-only storage credentials as env from the Secret, credentials Secret as a directory, Ingress with TLS", () => {
  const spec = pod(renders.s3);
  const c = spec.containers[0];
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.valueFrom?.secretKeyRef?.name]));
  assert.deepEqual(env, { AWS_ACCESS_KEY_ID: "s3-readonly", AWS_SECRET_ACCESS_KEY: "s3-readonly" });
  const credentials = c.volumeMounts.find((m) => m.name === "credentials");
  assert.equal(credentials.subPath, undefined, "a subPath mount would never see a rotated Secret");
  assert.equal(spec.volumes.find((v) => v.name === "credentials").secret.secretName, "bulkexport-server-credentials");
  assert.equal(c.image, "registry.example.com/bulkexport/server:1.2.3");
  assert.deepEqual(c.args.slice(-2), ["--config", "/etc/bulkexport/server/schedule-dar.yaml"]);
  const ingress = ofKind(renders.s3, "Ingress")[0];
  assert.equal(ingress.spec.tls[0].secretName, "downloads-tls");
  assert.equal(ingress.spec.rules[0].http.paths[0].backend.service.name, "rel-bulkexport-operator-server");
  assert.equal(ofKind(renders.s3, "Deployment")[0].spec.replicas, 2);
  // The operator's selector must not match server pods.
  const labels = ofKind(renders.s3, "Deployment")[0].spec.template.metadata.labels;
  assert.notEqual(labels["app.kubernetes.io/name"], "bulkexport-operator");
});

test("cluster mode: --namespaces, its own ServiceAccount, get/list/watch on exportschedules only, per namespace or cluster-wide", () => {
  const spec = pod(renders.cluster);
  assert.equal(spec.serviceAccountName, "rel-bulkexport-operator-server");
  const args = spec.containers[0].args;
  assert.equal(args[args.indexOf("--namespaces") + 1], "registers,exports");
  const roles = ofKind(renders.cluster, "Role");
  assert.deepEqual(roles.map((r) => r.metadata.namespace).sort(), ["exports", "registers"]);
  for (const role of [...roles, ...ofKind(renders.clusterAll, "ClusterRole")]) {
    assert.deepEqual(role.rules, [{ apiGroups: ["bulkexport.io"], resources: ["exportschedules"], verbs: ["get", "list", "watch"] }]);
  }
  assert.equal(ofKind(renders.cluster, "ClusterRole").length, 0);
  assert.equal(ofKind(renders.clusterAll, "Role").length, 0);
  const binding = ofKind(renders.clusterAll, "ClusterRoleBinding")[0];
  assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "rel-bulkexport-operator-server", namespace: "bulkexport" }]);
});

test("cluster mode with scheduleStorageSecrets: --schedule-secrets and get on Secrets in each namespace, nothing more", () => {
  const args = pod(renders.clusterSecrets).containers[0].args;
  assert.ok(args.includes("--schedule-secrets"));
  assert.ok(!pod(renders.cluster).containers[0].args.includes("--schedule-secrets"));
  for (const role of ofKind(renders.clusterSecrets, "Role")) {
    assert.deepEqual(role.rules, [
      { apiGroups: ["bulkexport.io"], resources: ["exportschedules"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["secrets"], verbs: ["get"] },
    ]);
  }
});

test("the rendered server.yaml and schedules pass the server's own validation", (t) => {
  if (!existsSync(serverDll)) {
    t.skip("server is not built (make build)");
    return;
  }

  for (const [name, r] of [["s3", renders.s3], ["local", renders.local]]) {
    const config = ofKind(r, "ConfigMap")[0].data;
    const dir = mkdtempSync(join(out, `${name}-`));
    const args = [serverDll, "check", "--settings", join(dir, "server.yaml")];
    for (const [file, text] of Object.entries(config)) {
      writeFileSync(join(dir, file), text);
      if (file.startsWith("schedule-")) args.push("--config", join(dir, file));
    }
    const result = run("dotnet", args);
    assert.equal(result.code, 0, `${name}: ${result.out}`);
    assert.match(result.out, /ok: 1 schedule\(s\), registers DAR/);
  }
  assert.match(renders.s3.objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-server")).data["server.yaml"],
    /credentialsFile: \/etc\/bulkexport\/credentials\/credentials.yaml/);
});

test("an Ingress host becomes the server's allowedHosts when neither publicBaseUrl nor allowedHosts is set", () => {
  const r = render("server-ingress-host", "--set", "server.enabled=true", "--set", "server.namespaces={exports}",
    "--set", "server.ingress.enabled=true", "--set", "server.ingress.host=downloads.example.org");
  const yaml = r.objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-server")).data["server.yaml"];
  assert.match(yaml, /allowedHosts:\n- downloads.example.org/);
  assert.doesNotMatch(renders.cluster.objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-server")).data["server.yaml"], /allowedHosts/);
});

test("values.schema.json rejects bad server values", () => {
  for (const [args, why] of [
    [["--set", "server.prot=8080"], /prot/],
    [["--set", "server.port=80"], /port/],
    [["--set", "server.settings.credentialsFile=/x"], /credentialsFile|settings/],
    [["--set", "server.service.type=External"], /type/],
    [["--set", "server.enabled=true"], /server.schedules or server.namespaces/],
    [["--set", "server.namespaces={Not_A_Namespace}"], /namespaces/],
    [["--set", "server.enabled=true", "--set", "server.namespaces={exports}"], /server.settings.publicBaseUrl or server.settings.allowedHosts/],
  ]) {
    const r = run(helm, ["template", "rel", chart, ...args]);
    assert.notEqual(r.code, 0, `accepted ${args.join(" ")}`);
    assert.match(r.out, why);
  }
});
