"""{{name}}: a KubeStellar summarizer plugin.

Build: ``kubestellar plugin build``. Test: ``python3 -m unittest``.
"""

from wit_world import exports
import kubestellar_plugin as ks


class Plugin(exports.Plugin):
    def describe(self):
        return ks.info("{{name}}", "0.1.0", kind="summarizer", scope="per-object")

    def validate_config(self, config):
        return [ks.problem(k, "unknown field") for k in ks.parse_object(config, "config")]


class Summarize(exports.Summarize):
    def summarize(self, object, reports, config):
        rows = []
        for r in reports:
            status = ks.status_of(r)
            rows.append([r.cluster.name, None if status is None else status.get("readyReplicas", 0)])
        return ks.summary(["cluster", "readyReplicas"], rows)
