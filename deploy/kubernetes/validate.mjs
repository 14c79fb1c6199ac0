// SPDX-License-Identifier: MIT
// Validate Kubernetes manifests offline, as the API server would.
//
//   NODE_PATH=DIR/node_modules node deploy/kubernetes/validate.mjs [--dump] FILE...
//
// Three layers, each an error on its own:
//   yaml    the file parses as YAML 1.1 (what Kubernetes' parser reads, so
//           `yes` is a boolean), with no duplicate keys;
//   schema  each object validates against the JSON schema of its kind,
//           generated from the upstream OpenAPI spec (npm kubernetes-models:
//           types, required fields, enums, formats);
//   strict  no field is unknown to its type (`kubectl apply
//           --validate=strict`); the OpenAPI schema allows any extra field,
//           so the field lists come from @kubernetes/client-node's models,
//           generated from the same spec.
// Prints one JSON object: {ok, documents, errors[, dump]}; exits 0 when
// every document is valid, 1 when one is not, 2 on bad usage or setup.
// The npm packages are pinned in tests/integration/test_deploy.py.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

function fail(msg) {
  process.stderr.write("validate.mjs: " + msg + "\n");
  process.exit(2);
}

const args = process.argv.slice(2);
const dump = args[0] === "--dump";
const files = dump ? args.slice(1) : args;
if (!files.length)
  fail("usage: validate.mjs [--dump] FILE...");

// ES modules ignore NODE_PATH, so resolve from it by hand.
const modules = (process.env.NODE_PATH || "").split(path.delimiter)
  .find((d) => d && fs.existsSync(path.join(d, "kubernetes-models")));
if (!modules)
  fail("NODE_PATH has no kubernetes-models (install the pinned packages first)");
const require = createRequire(path.join(modules, "..", "noop.js"));
const YAML = require("yaml");
const fieldModels = await import(pathToFileURL(path.join(
  modules, "@kubernetes/client-node/dist/gen/models/all.js")).href);

// apiVersion "apps/v1" -> kubernetes-models/apps/v1/KIND.js; "v1" -> v1/KIND.js
async function schemaModel(apiVersion, kind) {
  const file = path.join(modules, "kubernetes-models", ...apiVersion.split("/"),
                         kind + ".js");
  if (!/^[A-Za-z0-9.\/-]+$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind) ||
      !fs.existsSync(file))
    return null;
  const mod = await import(pathToFileURL(file).href);
  return mod[kind] || null;
}

// "apps/v1" + "DaemonSet" -> client-node's V1DaemonSet
function fieldModel(apiVersion, kind) {
  const version = apiVersion.split("/").pop();
  const name = version.charAt(0).toUpperCase() + version.slice(1) + kind;
  const m = fieldModels[name];
  return m && m.getAttributeTypeMap ? name : null;
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const MAP = "{ [key: string]: ";

// Every key of value must be a field of type (a client-node model name).
function strict(value, type, where, errors) {
  if (type.startsWith("Array<")) {
    const inner = type.slice("Array<".length, -1);
    if (Array.isArray(value))
      value.forEach((v, i) => strict(v, inner, `${where}[${i}]`, errors));
    return;
  }
  if (type.startsWith(MAP)) {
    const inner = type.slice(MAP.length, -"; }".length);
    if (isObject(value))
      for (const [k, v] of Object.entries(value))
        strict(v, inner, `${where}.${k}`, errors);
    return;
  }
  const model = fieldModels[type];
  if (!model || !model.getAttributeTypeMap || !isObject(value))
    return; // a scalar, IntOrString, any: the schema layer checks those
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const sub = where ? `${where}.${k}` : k;
    if (!fields.has(k))
      errors.push({ layer: "strict", path: sub, message: `unknown field "${k}" in ${type}` });
    else
      strict(v, fields.get(k), sub, errors);
  }
}

const documents = [];
const errors = [];
const dumped = [];
for (const file of files) {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    fail(`${file}: ${e.message}`);
  }
  const docs = YAML.parseAllDocuments(text, { version: "1.1", uniqueKeys: true,
                                               prettyErrors: true });
  for (const [i, doc] of docs.entries()) {
    const at = { file, document: i };
    const problems = [...doc.errors, ...doc.warnings];
    for (const e of problems)
      errors.push({ ...at, layer: "yaml", message: e.message });
    if (problems.length || doc.contents === null)
      continue;
    const obj = doc.toJS();
    if (!isObject(obj)) {
      errors.push({ ...at, layer: "yaml", message: "document is not a mapping" });
      continue;
    }
    const { apiVersion, kind } = obj;
    const name = obj.metadata && obj.metadata.name;
    Object.assign(at, { apiVersion, kind, name });
    documents.push({ ...at });
    dumped.push(obj);
    if (typeof apiVersion !== "string" || typeof kind !== "string") {
      errors.push({ ...at, layer: "schema", message: "apiVersion and kind must be strings" });
      continue;
    }
    const Model = await schemaModel(apiVersion, kind);
    const fieldType = fieldModel(apiVersion, kind);
    if (!Model || !fieldType) {
      errors.push({ ...at, layer: "schema", message: `no schema for ${apiVersion} ${kind}` });
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      for (const line of String(e.message).split("\n").filter(Boolean))
        errors.push({ ...at, layer: "schema", message: line });
    }
    const found = [];
    strict(obj, fieldType, "", found);
    for (const e of found)
      errors.push({ ...at, ...e });
  }
}
if (!documents.length && !errors.length)
  errors.push({ layer: "yaml", message: "no documents" });

const out = { ok: errors.length === 0, documents, errors };
if (dump)
  out.dump = dumped;
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
process.exit(out.ok ? 0 : 1);
