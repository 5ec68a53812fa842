// Validates the Kubernetes manifests of a directory (default deploy/k8s): every YAML document
// against the Kubernetes schema of its kind (npm kubernetes-models 4.5.1), then what the schemas
// cannot see across documents: selectors that select, probes on /healthz and /readyz, references
// to ConfigMaps, Secrets and their keys that exist, SPARKD_ names that sparkd reads
// (deploy/sparkd.env.example), one Deployment running the lease-holding workers, the HPA's target,
// kustomization.yaml listing every file. Prints every problem and exits 1 when there is one.
//   node tests/k8s_validate.mjs [DIR]
import fs from "node:fs";
import path from "node:path";
import yaml from "js-yaml";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const dir = path.resolve(process.argv[2] || path.join(root, "deploy/k8s"));
const problems = [];
const bad = (where, msg) => problems.push(`${where}: ${msg}`);

// apiVersion -> the kubernetes-models module holding its kinds
const modules = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
};

// The settings sparkd reads. SPARKD_DATABASE_READ_URL, SPARKD_READ_REPLAY_WAIT_MS and
// SPARKD_WORKERS come with the replica work (util/config.c there) and are listed until then.
const known = new Set(["SPARKD_DATABASE_READ_URL", "SPARKD_READ_REPLAY_WAIT_MS", "SPARKD_WORKERS"]);
for (const line of fs.readFileSync(path.join(root, "deploy/sparkd.env.example"), "utf8").split("\n")) {
  const m = /^(SPARKD_[A-Z0-9_]+)=/.exec(line);
  if (m) known.add(m[1]);
}

const docs = []; // {file, doc}
const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
if (files.length === 0) bad(dir, "no YAML files");
let kustomization = null;
for (const file of files) {
  let all;
  try {
    all = yaml.loadAll(fs.readFileSync(path.join(dir, file), "utf8"));
  } catch (e) {
    bad(file, `not YAML: ${e.message.split("\n")[0]}`);
    continue;
  }
  all.forEach((doc, i) => {
    if (doc === null || doc === undefined) return;
    const where = all.length > 1 ? `${file}[${i}]` : file;
    if (typeof doc !== "object" || !doc.kind || !doc.apiVersion) return bad(where, "not a Kubernetes object");
    if (doc.kind === "Kustomization") return (kustomization = { where, doc });
    docs.push({ where, doc });
  });
}

for (const { where, doc } of docs) {
  const mod = modules[doc.apiVersion];
  if (!mod) {
    bad(where, `apiVersion ${doc.apiVersion} is not one this check knows`);
    continue;
  }
  const cls = (await import(mod))[doc.kind];
  if (typeof cls !== "function") {
    bad(where, `no kind ${doc.kind} in ${doc.apiVersion}`);
    continue;
  }
  try {
    new cls(doc).validate();
  } catch (e) {
    bad(where, `${doc.kind} ${doc.metadata?.name}: ${e.message}`);
  }
  if (!doc.metadata?.name) bad(where, "no metadata.name");
}

const byKind = (k) => docs.filter((d) => d.doc.kind === k);
const find = (k, name) => byKind(k).find((d) => d.doc.metadata?.name === name);
const selects = (sel, labels) =>
  !!sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels?.[k] === v);

function keysOf(kind, name) {
  const d = find(kind, name);
  return d ? new Set([...Object.keys(d.doc.data || {}), ...Object.keys(d.doc.stringData || {})]) : null;
}
for (const { where, doc } of [...byKind("ConfigMap"), ...byKind("Secret")])
  for (const k of keysOf(doc.kind, doc.metadata.name))
    if (k.startsWith("SPARKD_") && !known.has(k)) bad(where, `${k} is not a setting sparkd reads`);

// Pod specs: env references, probes, workers mode.
function checkPod(where, spec) {
  const containers = [...(spec?.initContainers || []), ...(spec?.containers || [])];
  const volumes = new Set((spec?.volumes || []).map((v) => v.name));
  for (const v of spec?.volumes || [])
    if (v.secret && !v.secret.optional && !find("Secret", v.secret.secretName))
      bad(where, `volume ${v.name}: no Secret ${v.secret.secretName}`);
  const env = {};
  for (const c of containers) {
    const cw = `${where} container ${c.name}`;
    for (const m of c.volumeMounts || []) if (!volumes.has(m.name)) bad(cw, `mounts unknown volume ${m.name}`);
    for (const ef of c.envFrom || []) {
      const ref = ef.configMapRef || ef.secretRef;
      const kind = ef.configMapRef ? "ConfigMap" : "Secret";
      const keys = keysOf(kind, ref?.name);
      if (!keys && !ref?.optional) bad(cw, `envFrom: no ${kind} ${ref?.name}`);
      if (keys && (spec.containers || []).includes(c)) {
        const d = find(kind, ref.name).doc;
        for (const k of keys) env[k] = d.data?.[k] ?? d.stringData?.[k] ?? "(secret)";
      }
    }
    for (const e of c.env || []) {
      if (e.name.startsWith("SPARKD_") && !known.has(e.name)) bad(cw, `${e.name} is not a setting sparkd reads`);
      const ref = e.valueFrom?.configMapKeyRef || e.valueFrom?.secretKeyRef;
      if (ref) {
        const kind = e.valueFrom.configMapKeyRef ? "ConfigMap" : "Secret";
        const keys = keysOf(kind, ref.name);
        if (!keys) bad(cw, `${e.name}: no ${kind} ${ref.name}`);
        else if (!keys.has(ref.key)) bad(cw, `${e.name}: ${kind} ${ref.name} has no key ${ref.key}`);
      }
      if ((spec.containers || []).includes(c)) env[e.name] = e.value ?? "(reference)";
    }
  }
  return env;
}

let leaseDeployments = 0;
for (const { where, doc } of byKind("Deployment")) {
  const tpl = doc.spec?.template;
  if (!selects(doc.spec?.selector?.matchLabels, tpl?.metadata?.labels))
    bad(where, "spec.selector does not select the pod template's labels");
  const env = checkPod(where, tpl?.spec);
  const main = tpl?.spec?.containers?.[0];
  if (!main) continue;
  const ports = new Map((main.ports || []).map((p) => [p.name, p.containerPort]));
  const listen = /:(\d+)$/.exec(find("ConfigMap", "sparkd-config")?.doc.data?.SPARKD_LISTEN || "")?.[1];
  const health = env.SPARKD_HEALTH_PORT && env.SPARKD_HEALTH_PORT !== "0" ? String(env.SPARKD_HEALTH_PORT) : null;
  for (const [probe, want] of [
    ["livenessProbe", "/healthz"],
    ["readinessProbe", "/readyz"],
  ]) {
    const g = main[probe]?.httpGet;
    if (!g) bad(where, `${probe}: none`);
    else {
      if (g.path !== want) bad(where, `${probe} asks ${g.path}, not ${want}`);
      const port = typeof g.port === "string" ? ports.get(g.port) : g.port;
      if (port === undefined) bad(where, `${probe}: no container port ${g.port}`);
      else if (listen && String(port) !== listen && String(port) !== health)
        bad(where, `${probe}: port ${port}, sparkd listens on ${listen}${health ? ` and ${health}` : ""}`);
    }
  }
  if (!env.SPARKD_DATABASE_URL) bad(where, "SPARKD_DATABASE_URL is not set");
  const workers = env.SPARKD_WORKERS;
  if (workers !== "off" && workers !== "lease") bad(where, "SPARKD_WORKERS must be set: off (API) or lease (workers)");
  if (workers === "lease") leaseDeployments++;
  if (env.SPARKD_SIGNING_KEY_FILE) {
    const mounted = (main.volumeMounts || []).some((m) => env.SPARKD_SIGNING_KEY_FILE.startsWith(m.mountPath + "/"));
    if (!mounted) bad(where, `SPARKD_SIGNING_KEY_FILE ${env.SPARKD_SIGNING_KEY_FILE} is on no mounted volume`);
  }
}
if (leaseDeployments !== 1)
  bad(dir, `${leaseDeployments} Deployments run the workers (SPARKD_WORKERS=lease); want exactly 1`);

for (const { where, doc } of byKind("Job")) {
  checkPod(where, doc.spec?.template?.spec);
  const c = doc.spec?.template?.spec?.containers?.[0];
  if (JSON.stringify([...(c?.command || []), ...(c?.args || [])]) !== JSON.stringify(["sparkd", "migrate"]))
    bad(where, "the Job does not run `sparkd migrate`");
}
if (byKind("Job").length !== 1) bad(dir, "want one migration Job");

const podLabels = byKind("Deployment").map((d) => d.doc.spec?.template?.metadata?.labels);
for (const { where, doc } of byKind("Service")) {
  const targets = byKind("Deployment").filter((d) => selects(doc.spec?.selector, d.doc.spec?.template?.metadata?.labels));
  if (targets.length === 0) bad(where, "the Service selects no Deployment's pods");
  for (const t of targets) {
    if (t.doc.spec.template.spec.containers[0].env?.some((e) => e.name === "SPARKD_WORKERS" && e.value === "lease"))
      bad(where, `the Service sends traffic to the workers Deployment ${t.doc.metadata.name}`);
    const names = new Set((t.doc.spec.template.spec.containers[0].ports || []).map((p) => p.name));
    for (const p of doc.spec?.ports || [])
      if (typeof p.targetPort === "string" && !names.has(p.targetPort))
        bad(where, `targetPort ${p.targetPort} is no port of ${t.doc.metadata.name}`);
  }
}
if (byKind("Service").length === 0) bad(dir, "no Service");
for (const { where, doc } of byKind("PodDisruptionBudget"))
  if (!podLabels.some((l) => selects(doc.spec?.selector?.matchLabels, l))) bad(where, "selects no Deployment's pods");
if (byKind("PodDisruptionBudget").length === 0) bad(dir, "no PodDisruptionBudget");
for (const { where, doc } of byKind("HorizontalPodAutoscaler")) {
  const ref = doc.spec?.scaleTargetRef;
  const t = ref?.kind === "Deployment" && find("Deployment", ref.name);
  if (!t) bad(where, `scaleTargetRef ${ref?.kind} ${ref?.name} is not a Deployment here`);
  else if (!t.doc.spec.template.spec.containers.every((c) => c.resources?.requests?.cpu))
    bad(where, `${ref.name} has a container without a CPU request: utilization cannot be computed`);
  else if (t.doc.spec.template.spec.containers[0].env?.some((e) => e.name === "SPARKD_WORKERS" && e.value === "lease"))
    bad(where, "scales the workers Deployment");
}
if (byKind("HorizontalPodAutoscaler").length === 0) bad(dir, "no HorizontalPodAutoscaler");

if (kustomization) {
  const listed = new Set(kustomization.doc.resources || []);
  for (const f of files)
    if (f !== "kustomization.yaml" && !listed.has(f)) bad(kustomization.where, `${f} is not in resources`);
  for (const f of listed) if (!files.includes(f)) bad(kustomization.where, `resource ${f} does not exist`);
}

if (problems.length) {
  for (const p of problems) console.error(`k8s: ${p}`);
  process.exit(1);
}
console.log(`k8s: ${docs.length} documents in ${files.length} files valid`);
