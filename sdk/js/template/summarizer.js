// {{name}}: a KubeStellar summarizer plugin.
// Build: `kubestellar plugin build`. Test: `npm test`.
import { info, problem, parseObject, summary, statusOf } from './lib/kubestellar.js';

export const plugin = {
  describe() {
    return info({ name: '{{name}}', version: '0.1.0', kind: 'summarizer', scope: 'per-object' });
  },
  validateConfig(config) {
    return Object.keys(parseObject(config, 'config')).map((k) => problem(k, 'unknown field'));
  },
};

export const summarize = {
  summarize(object, reports, config) {
    const rows = reports.map((r) => {
      const status = statusOf(r);
      return [r.cluster.name, status === undefined ? null : status.readyReplicas || 0];
    });
    return summary(['cluster', 'readyReplicas'], rows);
  },
};
