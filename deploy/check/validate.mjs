// Checks rendered Kubernetes manifests (`kubectl kustomize` output, YAML
// with several documents) given as files:
//  1. each document against its Kubernetes JSON schema (kubernetes-models:
//     types, required fields, formats);
//  2. field names, by type-checking each document as its kubernetes-types
//     TypeScript type: a misspelled or misplaced field is an excess
//     property, which TypeScript reports.
// Exits non-zero, naming the document and the problem, on any failure.
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { parseAllDocuments } from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs RENDERED.yaml...");
  process.exit(2);
}

let failures = 0;
const imports = [];
const consts = [];
let n = 0;
for (const file of files) {
  for (const parsed of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (parsed.errors.length > 0) {
      console.error(`${file}: YAML: ${parsed.errors[0].message}`);
      failures++;
      continue;
    }
    const doc = parsed.toJS();
    if (doc === null) continue;
    const { apiVersion, kind } = doc;
    const name = `${file}: ${kind} ${doc.metadata?.name ?? "?"}`;
    const [group, version] = apiVersion.includes("/")
      ? apiVersion.split("/")
      : ["core", apiVersion];
    const modelPath = group === "core"
      ? `kubernetes-models/${version}/${kind}`
      : `kubernetes-models/${group}/${version}/${kind}`;
    try {
      const model = await import(modelPath);
      new model[kind](doc).validate();
    } catch (e) {
      console.error(`${name}: schema: ${e.message}`);
      failures++;
    }
    imports.push(
      `import type { ${kind} as T${n} } from "kubernetes-types/${group}/${version}";`);
    consts.push(`export const doc${n}: T${n} = ${JSON.stringify(doc, null, 2)};`);
    n++;
  }
}

// Field names: TypeScript's excess-property check over every document.
const ts = path.join(here, ".rendered.ts");
writeFileSync(ts, `${imports.join("\n")}\n\n${consts.join("\n\n")}\n`);
try {
  execFileSync(path.join(here, "node_modules/.bin/tsc"),
               ["--noEmit", "--strict", "--skipLibCheck", "--module", "preserve",
                "--moduleResolution", "bundler", ts],
               { cwd: here, stdio: "inherit" });
} catch {
  console.error("field names: TypeScript found fields the Kubernetes types do not have (above)");
  failures++;
} finally {
  rmSync(ts, { force: true });
}

if (failures > 0) {
  console.error(`${failures} problem(s) in ${n} document(s)`);
  process.exit(1);
}
console.log(`ok: ${n} document(s) match the Kubernetes schemas and types`);
