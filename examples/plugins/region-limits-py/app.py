"""Example transformer plugin in Python: labels each workload with its WEC's region and sets
container resource limits per WEC.

* ``metadata.labels.region`` := the WEC's ``region`` label (left alone when the WEC has none).
* every container's ``resources.limits.memory`` / ``.cpu`` := the WEC's customization property
  ``memoryLimit`` / ``cpuLimit``, else the configured ``defaultMemory`` / ``defaultCpu``, else
  unchanged. Applies to Pods, Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and
  CronJobs; other objects only get the label.

Configuration: ``{"defaultMemory": "256Mi", "defaultCpu": "500m"}`` (both optional).
Build: ``kubestellar plugin build`` in this directory. Test: ``python3 -m unittest``.
"""

import re

from wit_world import exports
import kubestellar_plugin as ks

SCHEMA = {
    "type": "object",
    "properties": {"defaultMemory": {"type": "string"}, "defaultCpu": {"type": "string"}},
    "additionalProperties": False,
}
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
# Where the pod spec lives, per kind.
POD_SPEC = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def config_problems(cfg):
    problems = []
    for key, value in cfg.items():
        if key not in ("defaultMemory", "defaultCpu"):
            problems.append(ks.problem(key, "unknown field; expected defaultMemory or defaultCpu"))
        elif not isinstance(value, str) or not QUANTITY.match(value):
            problems.append(ks.problem(key, f"{value!r} is not a Kubernetes quantity"))
    return problems


class Plugin(exports.Plugin):
    def describe(self):
        return ks.info("region-limits", "0.1.0", kind="transformer", scope="per-cluster",
                       config_schema=SCHEMA)

    def validate_config(self, config):
        return config_problems(ks.parse_object(config, "config"))


def pod_spec(obj):
    node = obj
    for key in POD_SPEC.get(obj.get("kind"), ()):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) and node is not obj else None


def limit(cluster, prop, default):
    value = ks.prop(cluster, prop, default)
    if value is not None and not QUANTITY.match(value):
        ks.fail(f"WEC {cluster.name}: property {prop} {value!r} is not a Kubernetes quantity")
    return value


class Transform(exports.Transform):
    def transform(self, object, cluster, config):
        obj = ks.parse_object(object)
        if cluster is None:
            return ks.transformed(obj, used_cluster=False)
        cfg = ks.parse_object(config, "config")
        region = ks.label(cluster, "region")
        if region is not None:
            meta = obj.setdefault("metadata", {})
            meta.setdefault("labels", {})["region"] = region
        memory = limit(cluster, "memoryLimit", cfg.get("defaultMemory"))
        cpu = limit(cluster, "cpuLimit", cfg.get("defaultCpu"))
        spec = pod_spec(obj)
        if spec is not None and (memory or cpu):
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                limits = container.setdefault("resources", {}).setdefault("limits", {})
                if memory:
                    limits["memory"] = memory
                if cpu:
                    limits["cpu"] = cpu
        ks.log("debug", f"{obj.get('kind')} {obj.get('metadata', {}).get('name')} for {cluster.name}: "
                        f"region={region} memory={memory} cpu={cpu}")
        return ks.transformed(obj, used_cluster=True)
