// {{name}}: a KubeStellar transformer plugin.
// Build: `kubestellar plugin build`. Test: `npm test`.
import { info, problem, parseObject, transformed, log } from './lib/kubestellar.js';

export const plugin = {
  describe() {
    return info({ name: '{{name}}', version: '0.1.0', kind: 'transformer', scope: 'per-cluster' });
  },
  validateConfig(config) {
    return Object.keys(parseObject(config, 'config'))
      .filter((k) => k !== 'prefix')
      .map((k) => problem(k, 'unknown field'));
  },
};

export const transform = {
  transform(object, cluster, config) {
    const obj = parseObject(object);
    if (!cluster) return transformed(obj, false);
    const prefix = parseObject(config, 'config').prefix || 'example.com';
    obj.metadata = obj.metadata || {};
    obj.metadata.labels = obj.metadata.labels || {};
    obj.metadata.labels[`${prefix}/cluster`] = cluster.name;
    log('debug', `labelled ${obj.metadata.name} for ${cluster.name}`);
    return transformed(obj, true);
  },
};
