// Native unit tests: `node --import ../../../sdk/js/testing/register.mjs --test` in this directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plugin, summarize } from './plugin.js';
import { cluster, report, checkSummary, errorMessage } from '../../../sdk/js/testing/index.mjs';

const deploy = JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 2 } });
const c1 = cluster('cluster1', { labels: { region: 'east' } });
const c2 = cluster('cluster2', { labels: { region: 'west' } });
const cells = (s) => s.rows.map((r) => r.columns.map((c) => (c.tag === 'null' ? null : c.val)));

test('healthy when every WEC has its replicas ready', () => {
  const s = summarize.summarize(deploy, [report(c1, { readyReplicas: 2 }), report(c2, { readyReplicas: 2 })], '{}');
  checkSummary(s);
  assert.deepEqual(s.columnNames, ['cluster', 'ready', 'desired', 'health']);
  assert.deepEqual(cells(s), [
    ['cluster1', '2', '2', 'Healthy'],
    ['cluster2', '2', '2', 'Healthy'],
    ['(all)', '4', '4', 'Healthy'],
  ]);
});

test('degraded names the WECs short of replicas; unknown until all report', () => {
  let s = summarize.summarize(deploy, [report(c1, { readyReplicas: 1 }), report(c2, { readyReplicas: 2 })], '{}');
  assert.deepEqual(cells(s)[2], ['(all)', '3', '4', 'Degraded: cluster1 1/2']);
  s = summarize.summarize(deploy, [report(c1, { readyReplicas: 1 }), report(c2, { readyReplicas: 2 })], '{"healthyFraction": 0.5}');
  assert.equal(cells(s)[2][3], 'Healthy');
  s = summarize.summarize(deploy, [report(c1, { readyReplicas: 2 }), report(c2)], '{}');
  assert.deepEqual(cells(s)[1], ['cluster2', null, '2', 'Unknown']);
  assert.equal(cells(s)[2][3], 'Unknown');
});

test('bad status is a row error, bad config a clean error', () => {
  const bad = { cluster: c2, status: '[1]', lastUpdate: undefined };
  const s = summarize.summarize(deploy, [report(c1, { readyReplicas: 2 }), bad], '{}');
  assert.deepEqual(s.rowErrors, [{ cluster: 'cluster2', columnName: 'ready', error: 'status from cluster2 must be a JSON object' }]);
  assert.throws(() => summarize.summarize(deploy, [], '{"healthyFraction": 2}'), (e) =>
    errorMessage(e) === 'invalid configuration: healthyFraction: must be a number in (0, 1], not 2');
  assert.equal(plugin.validateConfig('{"x": 1}').length, 1);
  assert.equal(plugin.describe().kind, 'summarizer');
});
