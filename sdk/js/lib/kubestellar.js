// Helpers for KubeStellar customization plugins written in JavaScript (jco / componentize-js).
//
// WIT values in JavaScript: records are objects with camelCase keys, enums are strings
// ('transformer', 'per-cluster'), `option` is a value or undefined/null, variants are
// `{tag, val}`, and a `result<T, plugin-error>` export returns T or throws a plugin-error
// record `{message}` (use `fail`). See ../README.md.
import { log as hostLog } from 'kubestellar:plugin/host@0.1.0';

/** What `plugin.describe()` returns. */
export function info({ name, version, kind = 'transformer', scope = 'per-cluster', configSchema }) {
  return {
    name,
    version,
    kind,
    scope,
    configSchema: configSchema === undefined ? undefined : JSON.stringify(configSchema),
  };
}

/** One entry of `plugin.validateConfig()`'s result; `field` like `spec.limits`, or ''. */
export function problem(field, message) {
  return { field, message };
}

/** Reports an error the host shows as `plugin NAME: message` (throws a plugin-error record). */
export function fail(message) {
  throw { message: String(message) };
}

function lookup(pairs, key, dflt) {
  const p = (pairs || []).find((p) => p.key === key);
  return p === undefined ? dflt : p.value;
}

/** The WEC's label `key` (its ManagedCluster's labels), or `dflt`. */
export function label(cluster, key, dflt = undefined) {
  return cluster ? lookup(cluster.labels, key, dflt) : dflt;
}

/** The WEC's annotation `key`, or `dflt`. */
export function annotation(cluster, key, dflt = undefined) {
  return cluster ? lookup(cluster.annotations, key, dflt) : dflt;
}

/** The WEC's customization property `key`, or `dflt`. */
export function property(cluster, key, dflt = undefined) {
  return cluster ? lookup(cluster.properties, key, dflt) : dflt;
}

/** Parses JSON text that must be an object; bad input becomes a clean plugin error. */
export function parseObject(text, what = 'object') {
  let value;
  try {
    value = text.trim() === '' ? {} : JSON.parse(text);
  } catch (e) {
    fail(`${what} is not valid JSON: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(`${what} must be a JSON object`);
  }
  return value;
}

/** What `transform.transform()` returns; `usedCluster=false` lets the host reuse it for every WEC. */
export function transformed(obj, usedCluster = true) {
  return { object: JSON.stringify(obj), usedCluster };
}

/** A summary cell from a JavaScript value (null, string, boolean, number, object, array). */
export function cell(v) {
  if (v === null || v === undefined) return { tag: 'null' };
  if (typeof v === 'boolean') return { tag: 'bool', val: v };
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return { tag: 'number', val: 'NaN' };
    if (!Number.isFinite(v)) return { tag: 'number', val: v > 0 ? '+Inf' : '-Inf' };
    return { tag: 'number', val: String(v) };
  }
  if (typeof v === 'string') return { tag: 'string', val: v };
  if (Array.isArray(v)) return { tag: 'array', val: JSON.stringify(v) };
  return { tag: 'object', val: JSON.stringify(v) };
}

/** A per-WEC evaluation error, reported instead of that WEC's row. */
export function rowError(cluster, columnName, error) {
  return { cluster, columnName, error };
}

/** What `summarize.summarize()` returns: each row as wide as `columns`, cells as JS values. */
export function summary(columns, rows, rowErrors = [], aggregationErrors = []) {
  return {
    columnNames: columns,
    rows: rows.map((r) => ({ columns: r.map(cell) })),
    rowErrors,
    aggregationErrors,
  };
}

/** The status a WEC returned, parsed; undefined when nothing came back yet. */
export function statusOf(report) {
  if (report.status === undefined || report.status === null) return undefined;
  return parseObject(report.status, `status from ${report.cluster.name}`);
}

/** Writes to the host's log ('debug' | 'info' | 'warn' | 'error'); rate-limited by the host. */
export function log(level, message) {
  hostLog(level, String(message));
}
