// Prints a YAML file as JSON on stdout, for tests/check_node_openapi.c (C has no YAML parser here).
//   node tests/openapi_to_json.mjs openapi/openapi.yaml
// Exits 2 with one line on stderr when js-yaml is not installed (run `npm install` at the root).
import { readFileSync } from 'node:fs';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: node tests/openapi_to_json.mjs FILE.yaml\n');
  process.exit(2);
}
let yaml;
try {
  yaml = await import('js-yaml');
} catch (e) {
  process.stderr.write(`js-yaml not found (run npm install at the repository root): ${e.message}\n`);
  process.exit(2);
}
let doc;
try {
  doc = yaml.load(readFileSync(path, 'utf8'), { filename: path });
} catch (e) {
  process.stderr.write(`${path}: ${e.message}\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(doc) + '\n');
