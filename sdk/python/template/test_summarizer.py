"""Native unit tests: ``python3 -m unittest``."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kubestellar_testing as testing  # noqa: E402

testing.use_bindings("summarizer", wit=os.path.join(HERE, "wit"), out=os.path.join(HERE, ".bindings"))
import app  # noqa: E402


class SummarizeTest(unittest.TestCase):
    def test_one_row_per_wec(self):
        reports = [testing.report(testing.cluster("cluster1"), {"readyReplicas": 2}),
                   testing.report(testing.cluster("cluster2"))]
        s = app.Summarize().summarize("{}", reports, "{}")
        self.assertEqual(s.column_names, ["cluster", "readyReplicas"])
        self.assertEqual([[c.value if hasattr(c, "value") else None for c in r.columns] for r in s.rows],
                         [["cluster1", "2"], ["cluster2", None]])


if __name__ == "__main__":
    unittest.main()
