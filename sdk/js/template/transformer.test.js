import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plugin, transform } from './plugin.js';
import { cluster, checkTransformed } from './testing/index.mjs';

const obj = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n' } });

test('labels with the cluster name', () => {
  const out = transform.transform(obj, cluster('cluster1'), '{}');
  checkTransformed(obj, out.object);
  assert.equal(JSON.parse(out.object).metadata.labels['example.com/cluster'], 'cluster1');
  assert.equal(out.usedCluster, true);
});

test('config is checked', () => {
  assert.deepEqual(plugin.validateConfig('{"prefix": "a.io"}'), []);
  assert.equal(plugin.validateConfig('{"other": 1}').length, 1);
});
