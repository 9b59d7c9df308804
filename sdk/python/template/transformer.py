"""{{name}}: a KubeStellar transformer plugin.

Build: ``kubestellar plugin build``. Test: ``python3 -m unittest``.
"""

from wit_world import exports
import kubestellar_plugin as ks


class Plugin(exports.Plugin):
    def describe(self):
        return ks.info("{{name}}", "0.1.0", kind="transformer", scope="per-cluster")

    def validate_config(self, config):
        cfg = ks.parse_object(config, "config")
        return [ks.problem(k, "unknown field") for k in cfg if k != "prefix"]


class Transform(exports.Transform):
    def transform(self, object, cluster, config):
        obj = ks.parse_object(object)
        if cluster is None:
            return ks.transformed(obj, used_cluster=False)
        prefix = ks.parse_object(config, "config").get("prefix", "example.com")
        labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        labels[f"{prefix}/cluster"] = cluster.name
        ks.log("debug", f"labelled {obj['metadata'].get('name')} for {cluster.name}")
        return ks.transformed(obj, used_cluster=True)
