import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarize } from './plugin.js';
import { cluster, report, checkSummary } from './testing/index.mjs';

test('one row per WEC', () => {
  const s = summarize.summarize('{}', [report(cluster('cluster1'), { readyReplicas: 2 }), report(cluster('cluster2'))], '{}');
  checkSummary(s);
  assert.deepEqual(s.rows.map((r) => r.columns), [
    [{ tag: 'string', val: 'cluster1' }, { tag: 'number', val: '2' }],
    [{ tag: 'string', val: 'cluster2' }, { tag: 'null' }],
  ]);
});
