"""Native unit tests: ``python3 -m unittest``."""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kubestellar_testing as testing  # noqa: E402

testing.use_bindings("transformer", wit=os.path.join(HERE, "wit"), out=os.path.join(HERE, ".bindings"))
import app  # noqa: E402

OBJ = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}})


class TransformTest(unittest.TestCase):
    def test_labels_with_the_cluster_name(self):
        out = app.Transform().transform(OBJ, testing.cluster("cluster1"), "{}")
        testing.check_transformed(OBJ, out.object)
        self.assertEqual(json.loads(out.object)["metadata"]["labels"]["example.com/cluster"], "cluster1")
        self.assertTrue(out.used_cluster)

    def test_config_is_checked(self):
        self.assertEqual(app.Plugin().validate_config('{"prefix": "a.io"}'), [])
        self.assertEqual(len(app.Plugin().validate_config('{"other": 1}')), 1)


if __name__ == "__main__":
    unittest.main()
