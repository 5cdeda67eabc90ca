// Validates the chart's Istio, prometheus-operator and Gateway API objects
// (and examples/envoy-gateway's), and the chart's PromQL.
//
//   node validate-custom.mjs DIR
//
// DIR holds custom.json and promql.json, written by `check_manifests.py split`.
// Run with NODE_PATH-free resolution from .tools/node-models (where
// .ci/chart-tools.sh installs the pinned packages): .ci/chart.sh copies this
// file there first.
//
// Three checks:
//  1. each object through its @kubernetes-models class's .validate() (the
//     CRDs' OpenAPI schemas: types, enums, required fields);
//  2. each object type-checked by TypeScript against the same package's
//     interface as an object literal, so a misspelt or misplaced field (which
//     the API server would drop, or refuse under strict field validation) is
//     an error ("Object literal may only specify known properties");
//  3. every alert expression and dashboard query parsed by Prometheus's own
//     PromQL grammar (@prometheus-io/lezer-promql).
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

import { AuthorizationPolicy, PeerAuthentication } from "@kubernetes-models/istio/security.istio.io/v1";
import { DestinationRule } from "@kubernetes-models/istio/networking.istio.io/v1";
import { EnvoyFilter } from "@kubernetes-models/istio/networking.istio.io/v1alpha3";
import { PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { Gateway, GatewayClass, HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import { ReferenceGrant } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1";
import { parser as promql } from "@prometheus-io/lezer-promql";
import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const dir = process.argv[2];
if (!dir) {
  console.error("usage: node validate-custom.mjs DIR");
  process.exit(2);
}

// apiVersion/kind -> [model class, module that declares its interface]
const MODELS = {
  "security.istio.io/v1/AuthorizationPolicy": [AuthorizationPolicy, "@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy"],
  "security.istio.io/v1/PeerAuthentication": [PeerAuthentication, "@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication"],
  "networking.istio.io/v1/DestinationRule": [DestinationRule, "@kubernetes-models/istio/networking.istio.io/v1/DestinationRule"],
  "networking.istio.io/v1alpha3/EnvoyFilter": [EnvoyFilter, "@kubernetes-models/istio/networking.istio.io/v1alpha3/EnvoyFilter"],
  "monitoring.coreos.com/v1/PrometheusRule": [PrometheusRule, "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule"],
  "monitoring.coreos.com/v1/ServiceMonitor": [ServiceMonitor, "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor"],
  // Gateway API: GatewayClass, Gateway and HTTPRoute as v1; ReferenceGrant
  // as v1beta1, the version every Gateway API release since v0.6 serves
  // (Envoy Gateway v1.6 bundles v1.4.1, which has no v1).
  "gateway.networking.k8s.io/v1/GatewayClass": [GatewayClass, "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GatewayClass"],
  "gateway.networking.k8s.io/v1/Gateway": [Gateway, "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway"],
  "gateway.networking.k8s.io/v1/HTTPRoute": [HTTPRoute, "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute"],
  "gateway.networking.k8s.io/v1beta1/ReferenceGrant": [ReferenceGrant, "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1/ReferenceGrant"],
};

let failures = 0;
const fail = (msg) => {
  failures++;
  console.log(`FAIL: ${msg}`);
};

const objects = JSON.parse(readFileSync(join(dir, "custom.json"), "utf8"));
const typed = [];
for (const obj of objects) {
  const id = `${obj.kind} ${obj.metadata?.namespace ?? ""}/${obj.metadata?.name}`;
  const entry = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!entry) {
    fail(`${id}: no model for ${obj.apiVersion} ${obj.kind}`);
    continue;
  }
  const [Model, module] = entry;
  try {
    new Model(obj).validate();
    console.log(`ok: ${id} validates against ${obj.apiVersion}`);
  } catch (e) {
    fail(`${id}: ${e.message}`);
  }
  typed.push({ id, obj, module, iface: `I${obj.kind}` });
}

// 2. TypeScript excess-property check, in a scratch directory inside the
// node_modules tree so the packages resolve.
if (typed.length) {
  const scratch = mkdtempSync(join(here, ".typecheck-"));
  try {
    const lines = [];
    typed.forEach(({ module, iface }, i) => lines.push(`import type { ${iface} as T${i} } from "${module}";`));
    typed.forEach(({ obj }, i) => lines.push(`export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)};`));
    const file = join(scratch, "objects.mts");
    writeFileSync(file, lines.join("\n") + "\n");
    const program = ts.createProgram([file], {
      noEmit: true,
      strict: true,
      skipLibCheck: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program);
    for (const d of diagnostics) {
      let where = "";
      if (d.file && d.start !== undefined) {
        const { line } = d.file.getLineAndCharacterOfPosition(d.start);
        // Which object: the last `export const oN` at or above that line.
        const text = d.file.text.split("\n").slice(0, line + 1);
        const decl = text.reverse().find((l) => l.startsWith("export const o"));
        const idx = decl ? Number(decl.match(/^export const o(\d+)/)[1]) : -1;
        where = idx >= 0 ? `${typed[idx].id}: ` : "";
      }
      fail(`${where}${ts.flattenDiagnosticMessageText(d.messageText, " ")}`);
    }
    if (!diagnostics.length) {
      console.log(`ok: ${typed.length} objects type-check against their interfaces (no unknown fields)`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// 3. PromQL.
const queries = JSON.parse(readFileSync(join(dir, "promql.json"), "utf8"));
let parsed = 0;
for (const { where, expr } of queries) {
  const tree = promql.parse(expr);
  let error = null;
  tree.iterate({
    enter(node) {
      if (node.type.isError && error === null) error = node.from;
    },
  });
  if (error !== null) {
    fail(`${where}: PromQL does not parse at offset ${error}: ${expr.slice(Math.max(0, error - 20), error + 20).replace(/\s+/g, " ")}`);
  } else {
    parsed++;
  }
}
if (queries.length) console.log(`ok: ${parsed}/${queries.length} PromQL expressions parse`);

process.exit(failures ? 1 : 0);
