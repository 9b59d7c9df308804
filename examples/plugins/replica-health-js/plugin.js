// Example summarizer plugin in JavaScript: per WEC, ready vs desired replicas of a workload, and
// an overall health string.
//
// Columns: cluster, ready, desired, health. One row per WEC, then a row for "(all)" whose health
// is the overall verdict: "Healthy" when every WEC has at least `healthyFraction` (default 1) of
// the desired replicas ready, "Degraded: <wec> <ready>/<desired>, ..." otherwise, and "Unknown"
// while some WEC has not reported yet. Desired replicas come from the WDS object's
// spec.replicas (default 1). A WEC whose status is not an object gets a row error instead.
//
// Configuration: {"healthyFraction": 0.5} (optional, in (0, 1]).
// Build: `kubestellar plugin build` in this directory. Test: `node --import ../../../sdk/js/testing/register.mjs --test`.
import { info, problem, fail, parseObject, summary, rowError, statusOf, log } from '../../../sdk/js/lib/kubestellar.js';

function fraction(config) {
  const cfg = parseObject(config, 'config');
  const f = cfg.healthyFraction === undefined ? 1 : cfg.healthyFraction;
  return { cfg, f };
}

function configProblems(config) {
  const { cfg, f } = fraction(config);
  const problems = [];
  for (const k of Object.keys(cfg)) {
    if (k !== 'healthyFraction') problems.push(problem(k, 'unknown field; expected healthyFraction'));
  }
  if (typeof f !== 'number' || !(f > 0 && f <= 1)) {
    problems.push(problem('healthyFraction', `must be a number in (0, 1], not ${JSON.stringify(f)}`));
  }
  return problems;
}

export const plugin = {
  describe() {
    return info({
      name: 'replica-health',
      version: '0.1.0',
      kind: 'summarizer',
      scope: 'per-object',
      configSchema: {
        type: 'object',
        properties: { healthyFraction: { type: 'number', exclusiveMinimum: 0, maximum: 1 } },
        additionalProperties: false,
      },
    });
  },
  validateConfig(config) {
    return configProblems(config);
  },
};

export const summarize = {
  summarize(object, reports, config) {
    const problems = configProblems(config);
    if (problems.length > 0) fail(`invalid configuration: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
    const { f } = fraction(config);
    const obj = parseObject(object);
    const desired = Number.isInteger(obj.spec && obj.spec.replicas) ? obj.spec.replicas : 1;
    const rows = [];
    const errors = [];
    const degraded = [];
    let unknown = 0;
    let totalReady = 0;
    for (const r of reports) {
      let status;
      try {
        status = statusOf(r);
      } catch (e) {
        errors.push(rowError(r.cluster.name, 'ready', e.message));
        continue;
      }
      if (status === undefined) {
        unknown += 1;
        rows.push([r.cluster.name, null, desired, 'Unknown']);
        continue;
      }
      const ready = Number.isInteger(status.readyReplicas) ? status.readyReplicas : 0;
      totalReady += ready;
      const healthy = ready >= desired * f;
      if (!healthy) degraded.push(`${r.cluster.name} ${ready}/${desired}`);
      rows.push([r.cluster.name, ready, desired, healthy ? 'Healthy' : 'Degraded']);
    }
    let overall;
    if (degraded.length > 0) overall = `Degraded: ${degraded.join(', ')}`;
    else if (unknown > 0 || reports.length === 0) overall = 'Unknown';
    else overall = 'Healthy';
    rows.push(['(all)', totalReady, desired * reports.length, overall]);
    log('debug', `${reports.length} reports: ${overall}`);
    return summary(['cluster', 'ready', 'desired', 'health'], rows, errors);
  },
};
