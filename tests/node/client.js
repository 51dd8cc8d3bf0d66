// A Node.js client of the symshape gRPC service: proof that other languages can use it.
// Usage: node client.js HOST:PORT SPEC_FILE BINDINGS_JSON [SOLVE_SYMBOL [TARGETS_JSON]]
// Calls Derive, Evaluate, EvaluateBatch and Solve (for SOLVE_SYMBOL, default the first free symbol,
// the others bound; TARGETS_JSON maps output axes to sizes), evaluates the portable expression graphs here in
// JavaScript (BigInt, exact; a zero divisor makes a value undefined, as the proto says), decodes the
// google.rpc.Status details of refused calls (ErrorInfo, BadRequest), and prints one JSON object for the Python
// test to check. The protos come from SYMSHAPE_PROTO_DIR, written by `python -m symshape_server.protos DIR`
// (shape_algebra.proto and google/rpc/status.proto, error_details.proto).
"use strict";
const fs = require("fs");
const path = require("path");
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader");
const protobuf = require("protobufjs"); // (proto-loader's own dependency) decodes the error details

const PROTO_DIR = process.env.SYMSHAPE_PROTO_DIR || path.join(__dirname, "..", "..", "proto");
const pkg = loader.loadSync("symshape/v1/shape_algebra.proto",
  { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] });
const { ShapeAlgebraService } = grpc.loadPackageDefinition(pkg).symshape.v1;

// google.rpc.Status from the "grpc-status-details-bin" trailer: ErrorInfo and BadRequest inside Any.
const rpc = new protobuf.Root();
rpc.resolvePath = (origin, target) => path.join(PROTO_DIR, target);
rpc.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
function decodeError(err) {
  const raw = err.metadata ? err.metadata.get("grpc-status-details-bin") : [];
  const out = { code: err.code, message: err.details, reason: null, domain: null, metadata: {}, fields: [] };
  if (!raw.length) return out;
  const status = rpc.lookupType("google.rpc.Status").decode(raw[0]);
  for (const any of status.details) {
    const name = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
    const detail = rpc.lookupType(name).decode(any.value);
    if (name === "google.rpc.ErrorInfo") Object.assign(out, { reason: detail.reason, domain: detail.domain,
                                                            metadata: detail.metadata });
    if (name === "google.rpc.BadRequest") out.fields = detail.field_violations.map((v) => [v.field, v.description]);
  }
  return out;
}

const floorDiv = (a, b) => { const q = a / b; return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q; };
const mod = (a, b) => a - b * floorDiv(a, b);

// A graph's value, or null when it is undefined (a zero divisor of OP_FLOOR_DIV, OP_CEIL_DIV or OP_MOD: BigInt
// throws RangeError; the proto says the value, and all computed from it, is undefined, not an error).
function evaluateOrUndefined(nodes, values) {
  try {
    return evaluateGraph(nodes, values);
  } catch (err) {
    if (err instanceof RangeError) return null;
    throw err;
  }
}

function evaluateGraph(nodes, values) {
  const out = [];
  for (const n of nodes) {
    const a = n.args.map((i) => out[i]);
    switch (n.op) {
      case "OP_INTEGER": out.push(BigInt(n.integer)); break;
      case "OP_SYMBOL": out.push(BigInt(values[n.symbol])); break;
      case "OP_ADD": out.push(a.reduce((x, y) => x + y, 0n)); break;
      case "OP_MUL": out.push(a.reduce((x, y) => x * y, 1n)); break;
      case "OP_POW": out.push(a[0] ** a[1]); break;
      case "OP_FLOOR_DIV": out.push(floorDiv(a[0], a[1])); break;
      case "OP_CEIL_DIV": out.push(-floorDiv(-a[0], a[1])); break;
      case "OP_MOD": out.push(mod(a[0], a[1])); break;
      case "OP_MAX": out.push(a.reduce((x, y) => (x > y ? x : y))); break;
      case "OP_MIN": out.push(a.reduce((x, y) => (x < y ? x : y))); break;
      case "OP_GE": out.push(a[0] >= a[1] ? 1n : 0n); break;
      case "OP_GT": out.push(a[0] > a[1] ? 1n : 0n); break;
      case "OP_LE": out.push(a[0] <= a[1] ? 1n : 0n); break;
      case "OP_LT": out.push(a[0] < a[1] ? 1n : 0n); break;
      case "OP_EQ": out.push(a[0] === a[1] ? 1n : 0n); break;
      case "OP_NE": out.push(a[0] !== a[1] ? 1n : 0n); break;
      case "OP_AND": out.push(a.every((x) => x !== 0n) ? 1n : 0n); break;
      case "OP_OR": out.push(a.some((x) => x !== 0n) ? 1n : 0n); break;
      case "OP_NOT": out.push(a[0] === 0n ? 1n : 0n); break;
      default: throw new Error(`unknown op ${n.op}`);
    }
  }
  return out[out.length - 1];
}

const call = (client, method, request) => new Promise((resolve, reject) =>
  client[method](request, { deadline: Date.now() + 60000 }, (err, res) => (err ? reject(err) : resolve(res))));

async function main() {
  const [target, specFile, bindingsJson, solveFor, targetsJson] = process.argv.slice(2);
  const bindings = JSON.parse(bindingsJson);
  const client = new ShapeAlgebraService(target, grpc.credentials.createInsecure());
  const spec = { text: fs.readFileSync(specFile, "utf8") };

  const derived = await call(client, "Derive", { spec });
  const closedForm = derived.closed_form.dims.map((d) => evaluateGraph(d.graph, bindings).toString());
  const params = evaluateGraph(derived.counts.total.graph, bindings).toString();
  const macs = evaluateGraph(derived.counts.macs.graph, bindings).toString();
  const constraints = derived.constraints.map((c) => evaluateGraph(c.relation.graph, bindings) === 1n);

  const evaluated = await call(client, "Evaluate", { derivation_id: derived.derivation_id, bindings });

  // EvaluateBatch: two chunks; the first names the derivation, the free symbols vary with the first one.
  const first = derived.free_symbols[0];
  const sizes = [1, 2, 3, 4, 5, 6, 7, 8].map((k) => Number(bindings[first]) * k);
  const columns = (vals) => Object.fromEntries(derived.free_symbols.map((s) =>
    [s, { values: s === first ? vals.map(String) : [String(bindings[s])] }]));
  const batch = await new Promise((resolve, reject) => {
    const rows = [];
    const stream = client.EvaluateBatch({ deadline: Date.now() + 60000 });
    stream.on("data", (r) => rows.push(r));
    stream.on("error", reject);
    stream.on("end", () => resolve(rows));
    stream.write({ derivation_id: derived.derivation_id, outputs: ["output_shape", "params"],
                   columns: columns(sizes.slice(0, 4)) });
    stream.write({ columns: columns(sizes.slice(4)) });
    stream.end();
  });

  // Solve: the set of values of one symbol, as pieces (numbers) and as a condition (a graph).
  const symbol = solveFor || derived.free_symbols[0];
  const others = Object.fromEntries(Object.entries(bindings).filter(([k]) => k !== symbol));
  const solved = await call(client, "Solve", { derivation_id: derived.derivation_id, symbol, bindings: others,
                                               targets: JSON.parse(targetsJson || "{}"), near: String(bindings[symbol]) });
  const has = (msg, field) => msg[`_${field}`] === field;  // proto3 optional: a synthetic oneof
  const pieces = solved.pieces.map((p) => ({ lo: BigInt(p.lo), hi: has(p, "hi") ? BigInt(p.hi) : null,
                                            modulus: BigInt(p.modulus), residue: BigInt(p.residue) }));
  const inPieces = (v) => pieces.some((p) => v >= p.lo && (p.hi === null || v <= p.hi) &&
                                            mod(v - p.residue, p.modulus) === 0n);
  const probe = [];
  for (let v = -3; v <= 300; v += 1) probe.push(BigInt(v));
  for (let d = -20; d <= 20; d += 1) probe.push(BigInt(bindings[symbol]) + BigInt(d));
  probe.push(2n ** 40n, 2n ** 40n + 1n, 2n ** 62n);
  const solve = {
    symbol, text: solved.text, method: solved.method, finite: solved.finite,
    count: has(solved, "count") ? solved.count : null, first: solved.first,
    pieces: pieces.map((p) => [p.lo, p.hi, p.modulus, p.residue].map((x) => (x === null ? null : x.toString()))),
    nearest: [has(solved, "nearest_below") ? solved.nearest_below : null,
              has(solved, "nearest_above") ? solved.nearest_above : null],
    condition_text: solved.condition.text,
    probe: probe.map(String),
    condition: probe.map((v) => evaluateGraph(solved.condition.graph, { [symbol]: v }) === 1n),
    pieces_contain: probe.map(inPieces),
  };

  // Refused calls, decoded: a missing binding, a bad spec (its line and layer in ErrorInfo's metadata).
  const errors = [];
  for (const [method, request] of [
    ["Evaluate", { derivation_id: derived.derivation_id, bindings: {} }],
    ["Derive", { spec: { text: "framework: torch\ninput: [3, H]\nlayers:\n  - Conv1d: {kernel: 3}\n" } }],
  ]) {
    try {
      await call(client, method, request);
      errors.push(null);
    } catch (err) {
      errors.push(decodeError(err));
    }
  }

  // A zero divisor (ZERO_SYMBOL at 0): the graphs say undefined (null here); the server says not valid.
  const zeroSymbol = process.env.ZERO_SYMBOL;
  let zeroDivisor = null;
  if (zeroSymbol) {
    const zero = { ...bindings, [zeroSymbol]: "0" };
    const zeroEvaluated = await call(client, "Evaluate", { derivation_id: derived.derivation_id, bindings: zero });
    zeroDivisor = { closed_form: derived.closed_form.dims.map((d) => {
      const v = evaluateOrUndefined(d.graph, zero);
      return v === null ? null : v.toString();
    }), valid: zeroEvaluated.valid, valid_is_present: zeroEvaluated._valid === "valid",
    violations: zeroEvaluated.violations.map((v) => v.message) };
  }

  console.log(JSON.stringify({
    errors, zero_divisor: zeroDivisor,
    solve,
    derivation_id: derived.derivation_id,
    closed_form_text: derived.closed_form.dims.map((d) => d.text),
    closed_form: closedForm, params, macs, constraints,
    evaluate: { output_shape: evaluated.output_shape.dims, params: evaluated.counts.total, valid: evaluated.valid },
    batch: { sizes, offsets: batch.map((b) => b.offset), valid: batch.flatMap((b) => b.valid),
             params: batch.flatMap((b) => b.results.params.values),
             output_shape: batch[0].output_shape.map((_, axis) => batch.flatMap((b) => b.output_shape[axis].values)) },
  }));
  client.close();
}

main().catch((err) => { console.error(`node client: ${err.code ?? ""} ${err.details ?? err.message}`); process.exit(1); });
