// Test helpers: cluster contexts, reports, and the host's output checks.
export { logged } from './host.mjs';

const pairs = (o) => Object.entries(o || {}).map(([key, value]) => ({ key, value }));

/** A cluster context for tests. */
export function cluster(name, { labels, annotations, properties } = {}) {
  return { name, labels: pairs(labels), annotations: pairs(annotations), properties: pairs(properties) };
}

/** A WEC report for tests (no status: nothing returned yet). */
export function report(clusterCtx, status) {
  return status === undefined
    ? { cluster: clusterCtx, status: undefined, lastUpdate: undefined }
    : { cluster: clusterCtx, status: JSON.stringify(status), lastUpdate: { seconds: 0n, nanoseconds: 0 } };
}

/** The host's rules: a JSON object with the input's apiVersion, kind, name and namespace. */
export function checkTransformed(before, after) {
  const a = JSON.parse(before);
  const b = JSON.parse(after);
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new Error('output is not a JSON object');
  for (const k of ['apiVersion', 'kind']) {
    if (a[k] !== b[k]) throw new Error(`${k} changed from ${a[k]} to ${b[k]}`);
  }
  for (const k of ['name', 'namespace']) {
    const was = (a.metadata || {})[k] || '';
    const now = (b.metadata || {})[k] || '';
    if (was !== now) throw new Error(`metadata.${k} changed from ${was} to ${now}`);
  }
}

/** The host's rules for a summary: rows as wide as the column names. */
export function checkSummary(s) {
  for (const r of s.rows) {
    if (r.columns.length !== s.columnNames.length) {
      throw new Error(`a row has ${r.columns.length} cells for ${s.columnNames.length} columns`);
    }
  }
}

/** The message of a plugin error thrown with `fail`. */
export function errorMessage(e) {
  return e && typeof e === 'object' && 'message' in e ? e.message : String(e);
}
