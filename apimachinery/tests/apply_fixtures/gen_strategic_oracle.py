"""Regenerates strategic_oracle.json: the result (or error) of each patch applied to
strategic_base.json by real kubectl (`kubectl patch --local`, which runs upstream's
strategicpatch package with the Go structs' patch metadata).

Usage: python3 gen_strategic_oracle.py [path/to/kubectl]
"""
import json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "strategic_base.json")
OUT = os.path.join(HERE, "strategic_oracle.json")
KUBECTL = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"
C = lambda c: {"spec":{"template":{"spec":{"containers":c}}}}
cases = {
 "csa_apply": {"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}\n"}},"spec":{"replicas":3,"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],"containers":[{"image":"nginx:1.28","name":"nginx"}]}}}},
 "set_image": {"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],"containers":[{"image":"nginx:1.29","name":"nginx"}]}}}},
 "rollout_restart": {"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-01T10:00:00Z"}}}}},
 "default_patch": C([{"name":"nginx","image":"nginx:1.28"}]),
 "new_container": C([{"name":"c","image":"x"}]),
 "delete_item": C([{"name":"sidecar","$patch":"delete"}]),
 "replace_list": C([{"name":"only","image":"x"},{"$patch":"replace"}]),
 "replace_map": {"metadata":{"labels":{"$patch":"replace","new":"1"}}},
 "delete_map": {"spec":{"strategy":{"$patch":"delete"}}},
 "null_delete": {"metadata":{"annotations":{"a":None,"zz":None}},"spec":{"replicas":None}},
 "retain_keys": {"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}},
 "delete_primitive": {"metadata":{"$deleteFromPrimitiveList/finalizers":["x/a"]}},
 "union_primitive": {"metadata":{"finalizers":["x/c","x/a"]}},
 "replace_atomic": {"spec":{"template":{"spec":{"tolerations":[{"key":"z","operator":"Exists"}],"containers":[{"name":"nginx","args":["c"]}]}}}},
 "port_add": C([{"name":"nginx","ports":[{"containerPort":8080}]}]),
 "env_order": C([{"name":"nginx","$setElementOrder/env":[{"name":"B"},{"name":"A"},{"name":"C"}],"env":[{"name":"C","value":"3"}]}]),
 "reorder": {"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"nginx"}]}}}},
 "volume_retain": {"spec":{"template":{"spec":{"volumes":[{"name":"v1","$retainKeys":["name","configMap"],"configMap":{"name":"cm"}}]}}}},
 "csa_delete_container": {"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"$patch":"delete","name":"sidecar"}]}}}},
 "primitive_order": {"metadata":{"$setElementOrder/finalizers":["x/b","x/c"],"$deleteFromPrimitiveList/finalizers":["x/a"],"finalizers":["x/c"]}},
 "err_no_key": C([{"image":"x"}]),
 "err_merge_in_list": C([{"name":"nginx","$patch":"merge"}]),
 "err_map_merge": {"metadata":{"labels":{"$patch":"merge"}}},
 "err_order": {"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"name":"sidecar","image":"y"}]}}}},
 "err_retain": {"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{"maxSurge":1}}}},
 "err_list_of_lists": {"metadata":{"finalizers":[["a"]]}},
 "err_order_not_list": {"spec":{"template":{"spec":{"$setElementOrder/containers":"x"}}}},
}
out = {}
for name, p in cases.items():
    r = subprocess.run([KUBECTL,"patch","--local","-f",BASE,"-p",json.dumps(p),"-o","json"],capture_output=True,text=True,env={"KUBECONFIG":"/dev/null","HOME":"/tmp"})
    if r.returncode == 0:
        out[name] = {"patch": p, "result": json.loads(r.stdout)}
    else:
        out[name] = {"patch": p, "error": r.stderr.strip()}
with open(OUT, "w") as f:
    json.dump(out, f, indent=1)
