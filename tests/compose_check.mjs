// Checks docker-compose.yml's structure where docker cannot run: it parses, every depends_on and
// named volume exists, every bind-mounted file exists in the repository, the replica is made by
// pg_basebackup -R from the primary service, sparkd writes to the primary and reads from the
// replica, the primary lets the replica connect for replication, and every SPARKD_ variable is a
// setting sparkd reads. Prints every problem and exits 1 when there is one.
//   node tests/compose_check.mjs [FILE]
import fs from "node:fs";
import path from "node:path";
import yaml from "js-yaml";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const file = path.resolve(process.argv[2] || path.join(root, "docker-compose.yml"));
const base = path.dirname(file);
const problems = [];
const bad = (where, msg) => problems.push(`${where}: ${msg}`);

// As in tests/k8s_validate.mjs: the replica work's settings are listed until it is merged.
const known = new Set(["SPARKD_DATABASE_READ_URL", "SPARKD_READ_REPLAY_WAIT_MS", "SPARKD_WORKERS"]);
for (const line of fs.readFileSync(path.join(root, "deploy/sparkd.env.example"), "utf8").split("\n")) {
  const m = /^(SPARKD_[A-Z0-9_]+)=/.exec(line);
  if (m) known.add(m[1]);
}

let doc;
try {
  doc = yaml.load(fs.readFileSync(file, "utf8"));
} catch (e) {
  console.error(`compose: not YAML: ${e.message.split("\n")[0]}`);
  process.exit(1);
}
const services = doc?.services || {};
const volumes = new Set(Object.keys(doc?.volumes || {}));
const envOf = (s) =>
  Array.isArray(s.environment)
    ? Object.fromEntries(s.environment.map((e) => [e.split("=")[0], e.split("=").slice(1).join("=")]))
    : s.environment || {};
const uncommented = (t) => t.replace(/^\s*#.*$/gm, "");
const text = (s) => JSON.stringify([s.entrypoint, s.command]);

for (const [name, s] of Object.entries(services)) {
  if (!s.image && !s.build) bad(name, "neither image nor build");
  const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on || {});
  for (const d of deps) if (!services[d]) bad(name, `depends_on ${d}: no such service`);
  for (const [d, c] of Object.entries(Array.isArray(s.depends_on) ? {} : s.depends_on || {}))
    if (c?.condition === "service_healthy" && services[d] && !services[d].healthcheck)
      bad(name, `waits for ${d} to be healthy, which has no healthcheck`);
  for (const v of s.volumes || []) {
    const src = typeof v === "string" ? v.split(":")[0] : v.source;
    if (src.startsWith(".") || src.startsWith("/")) {
      const p = path.resolve(base, src);
      if (!fs.existsSync(p)) bad(name, `mounts ${src}, which does not exist`);
      else if (p.endsWith(".sh")) {
        const mode = fs.statSync(p).mode;
        if (!(mode & 0o111)) bad(name, `${src} is not executable`);
      }
    } else if (!volumes.has(src)) bad(name, `volume ${src} is not declared`);
  }
  for (const k of Object.keys(envOf(s)))
    if (k.startsWith("SPARKD_") && !known.has(k)) bad(name, `${k} is not a setting sparkd reads`);
}

const host = (url) => {
  try {
    return new URL(url).hostname;
  } catch {
    return null;
  }
};
const sparkd = Object.entries(services).find(([, s]) => s.build || /sparkd/.test(s.image || ""));
if (!sparkd) bad("services", "no sparkd service");
else {
  const [name, s] = sparkd;
  const env = envOf(s);
  const primary = host(env.SPARKD_DATABASE_URL), replica = host(env.SPARKD_DATABASE_READ_URL);
  if (!primary || !services[primary]) bad(name, `SPARKD_DATABASE_URL's host ${primary} is not a service`);
  if (!replica || !services[replica]) bad(name, `SPARKD_DATABASE_READ_URL's host ${replica} is not a service`);
  if (primary && replica && primary === replica) bad(name, "reads and writes go to the same service");
  const deps = Object.keys(s.depends_on || {});
  for (const h of [primary, replica]) if (h && !deps.includes(h)) bad(name, `does not wait for ${h}`);
  if (replica && services[replica]) {
    const r = services[replica];
    const env = envOf(r);
    // the replica's start script, bind-mounted, is where pg_basebackup runs
    let script = text(r);
    for (const v of r.volumes || []) {
      const src = typeof v === "string" ? v.split(":")[0] : v.source;
      if (src.endsWith(".sh") && fs.existsSync(path.resolve(base, src)))
        script += uncommented(fs.readFileSync(path.resolve(base, src), "utf8"));
    }
    if (!/pg_basebackup[^\n]*\s-R\b/.test(script)) bad(replica, "is not made by pg_basebackup -R");
    if (!/hot_standby=on/.test(script)) bad(replica, "does not run as a hot standby");
    if (env.PRIMARY_HOST !== primary) bad(replica, `copies ${env.PRIMARY_HOST}, not the primary ${primary}`);
    if (!Object.keys(r.depends_on || {}).includes(primary)) bad(replica, `does not wait for ${primary}`);
  }
  if (primary && services[primary]) {
    const p = services[primary];
    let init = "";
    for (const v of p.volumes || []) {
      const [src, dst] = typeof v === "string" ? v.split(":") : [v.source, v.target];
      if (dst?.startsWith("/docker-entrypoint-initdb.d/") && fs.existsSync(path.resolve(base, src)))
        init += uncommented(fs.readFileSync(path.resolve(base, src), "utf8"));
    }
    if (!/\bREPLICATION\b/.test(init) || !/host\s+replication\s/.test(init))
      bad(primary, "no replication role and pg_hba.conf line in its init scripts");
  }
}

if (problems.length) {
  for (const p of problems) console.error(`compose: ${p}`);
  process.exit(1);
}
console.log(`compose: ${Object.keys(services).length} services consistent`);
