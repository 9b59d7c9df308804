"""Running a plugin's logic natively, in plain ``unittest`` tests.

``use_bindings(world)`` generates componentize-py's bindings for ``world`` from the project's
``wit/`` directory (once, into ``.bindings/``) and puts them on ``sys.path``, so that the plugin
module and ``kubestellar_plugin`` import as they do inside the component. Call it before
importing the plugin. ``check_transformed`` applies the host's output rules.
"""

import json
import os
import subprocess
import sys
from typing import Dict, Optional


def use_bindings(world: str, wit: str = "wit", out: str = ".bindings") -> None:
    """Generates (if missing or older than the WIT) and imports the bindings of ``world``."""
    target = os.path.abspath(os.path.join(out, world))
    stamp = os.path.join(target, "wit_world", "__init__.py")
    wit_mtime = max(os.path.getmtime(os.path.join(wit, f)) for f in os.listdir(wit) if f.endswith(".wit"))
    if not os.path.exists(stamp) or os.path.getmtime(stamp) < wit_mtime:
        result = subprocess.run(["componentize-py", "-d", wit, "-w", world, "bindings", target],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"componentize-py bindings failed: {result.stderr}")
    if target not in sys.path:
        sys.path.insert(0, target)


def cluster(name: str, labels: Optional[Dict[str, str]] = None,
            annotations: Optional[Dict[str, str]] = None,
            properties: Optional[Dict[str, str]] = None):
    """A cluster context for tests."""
    from wit_world.imports import types
    pairs = lambda d: [types.Pair(k, v) for k, v in (d or {}).items()]
    return types.ClusterContext(name, pairs(labels), pairs(annotations), pairs(properties))


def report(cluster_ctx, status: Optional[dict] = None):
    """A WEC report for tests (no status: nothing returned yet)."""
    from wit_world.imports import types
    return types.Report(cluster_ctx, None if status is None else json.dumps(status),
                        None if status is None else types.Timestamp(0, 0))


def check_transformed(before: str, after: str) -> None:
    """The host's rules: a JSON object with the input's apiVersion, kind, name and namespace."""
    a, b = json.loads(before), json.loads(after)
    if not isinstance(b, dict):
        raise AssertionError("output is not a JSON object")
    for key in ("apiVersion", "kind"):
        if a.get(key) != b.get(key):
            raise AssertionError(f"{key} changed from {a.get(key)!r} to {b.get(key)!r}")
    for key in ("name", "namespace"):
        was = (a.get("metadata") or {}).get(key) or ""
        now = (b.get("metadata") or {}).get(key) or ""
        if was != now:
            raise AssertionError(f"metadata.{key} changed from {was!r} to {now!r}")


def error_message(exc: BaseException) -> str:
    """The message of a plugin error raised with ``kubestellar_plugin.fail``."""
    value = getattr(exc, "value", None)
    return getattr(value, "message", str(exc))
