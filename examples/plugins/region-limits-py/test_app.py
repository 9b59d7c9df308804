"""Native unit tests: ``python3 -m unittest`` in this directory."""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../../sdk/python"))
import kubestellar_testing as testing  # noqa: E402

testing.use_bindings("transformer", wit=os.path.join(HERE, "../../../wit"),
                     out=os.path.join(HERE, ".bindings"))
import app  # noqa: E402
from componentize_py_types import Err  # noqa: E402

DEPLOY = json.dumps({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
})


class RegionLimitsTest(unittest.TestCase):
    def run_transform(self, cluster, config="{}", obj=DEPLOY):
        out = app.Transform().transform(obj, cluster, config)
        testing.check_transformed(obj, out.object)
        return json.loads(out.object), out.used_cluster

    def test_region_label_and_limits_from_the_wec(self):
        east = testing.cluster("cluster1", labels={"region": "east"},
                               properties={"memoryLimit": "512Mi", "cpuLimit": "1"})
        obj, used = self.run_transform(east, json.dumps({"defaultMemory": "256Mi"}))
        self.assertTrue(used)
        self.assertEqual(obj["metadata"]["labels"]["region"], "east")
        limits = obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        self.assertEqual(limits, {"memory": "512Mi", "cpu": "1"})

    def test_config_default_when_the_wec_has_no_property(self):
        west = testing.cluster("cluster2", labels={"region": "west"})
        obj, _ = self.run_transform(west, json.dumps({"defaultMemory": "256Mi"}))
        limits = obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        self.assertEqual(limits, {"memory": "256Mi"})
        self.assertEqual(obj["metadata"]["labels"]["region"], "west")

    def test_no_cluster_means_unchanged(self):
        obj, used = self.run_transform(None)
        self.assertFalse(used)
        self.assertEqual(obj, json.loads(DEPLOY))

    def test_bad_property_is_a_clean_error(self):
        bad = testing.cluster("cluster2", properties={"memoryLimit": "lots"})
        with self.assertRaises(Err) as e:
            app.Transform().transform(DEPLOY, bad, "{}")
        self.assertEqual(testing.error_message(e.exception),
                         "WEC cluster2: property memoryLimit 'lots' is not a Kubernetes quantity")

    def test_config_is_validated(self):
        self.assertEqual(app.Plugin().validate_config('{"defaultCpu": "500m"}'), [])
        problems = app.Plugin().validate_config('{"defaultCpu": "fast", "x": 1}')
        self.assertEqual([p.field for p in problems], ["defaultCpu", "x"])
        self.assertEqual(app.Plugin().describe().name, "region-limits")


if __name__ == "__main__":
    unittest.main()
