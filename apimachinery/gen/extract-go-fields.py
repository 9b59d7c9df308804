#!/usr/bin/env python3
"""Extract Go struct facts for the Kubernetes API types from a Go binary (kubectl).

kubectl and the k8s protobufs disagree on nothing but the protobufs cannot tell a pointer field
(`*int32`, where an explicit zero means something) from a plain field with `omitempty` (where a
zero is the same as absent), nor which message fields Go inlines into their parent (`json:",inline"`).
Go keeps every struct's fields, types and tags in the binary's runtime type data (encoding/json
needs them), so this script reads them from an installed kubectl and writes go-fields.json:

    {"k8s.io/api/apps/v1.DeploymentSpec": [["Replicas", "ptr:int32", "json:\"replicas,omitempty\" ..."], ...]}

Usage: extract-go-fields.py OUT.json BINARY[:PKG_PREFIX,...] ...
Earlier binaries win; a binary restricted with :PREFIX contributes only those packages.
Only ELF amd64 binaries built by Go >= 1.22 (abi.Type layout) are understood.
"""
import json
import struct
import sys

# The packages the generator reads (keep in step with GROUP_VERSIONS in src/defs.rs).
PACKAGES = tuple(f"k8s.io/api/{gv}." for gv in (
    "core/v1", "apps/v1", "batch/v1", "rbac/v1", "networking/v1", "policy/v1", "autoscaling/v1",
    "autoscaling/v2", "coordination/v1", "authorization/v1", "authentication/v1", "events/v1",
    "storage/v1", "scheduling/v1", "discovery/v1", "admissionregistration/v1", "certificates/v1",
    "node/v1", "flowcontrol/v1",
)) + (
    "k8s.io/apimachinery/pkg/apis/meta/v1.",
    "k8s.io/apimachinery/pkg/runtime.",
    "k8s.io/apimachinery/pkg/util/intstr.",
    "k8s.io/apimachinery/pkg/api/resource.",
    "k8s.io/apimachinery/pkg/version.",
    "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.",
)
KIND = {1: "bool", 2: "int", 5: "int32", 6: "int64", 8: "uint8", 10: "uint32", 11: "uint64",
        13: "float32", 14: "float64", 17: "array", 20: "interface", 21: "map", 22: "ptr",
        23: "slice", 24: "string", 25: "struct"}


class Binary:
    def __init__(self, path):
        self.data = open(path, "rb").read()
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 2:
            raise SystemExit(f"{path}: not a 64-bit ELF file")
        shoff = struct.unpack_from("<Q", d, 0x28)[0]
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
        raw = [struct.unpack_from("<IIQQQQ", d, shoff + i * shentsize) for i in range(shnum)]
        stroff = raw[shstrndx][4]
        self.sections = {}
        for name, _typ, _flags, addr, off, size in raw:
            end = d.index(b"\0", stroff + name)
            self.sections[d[stroff + name:end].decode()] = (addr, off, size)
        self.types_base = self.sections[".rodata"][0]

    def off(self, va):
        for addr, off, size in self.sections.values():
            if addr and addr <= va < addr + size:
                return off + va - addr
        raise ValueError(hex(va))

    def u8(self, va):
        return self.data[self.off(va)]

    def i32(self, va):
        return struct.unpack_from("<i", self.data, self.off(va))[0]

    def u64(self, va):
        return struct.unpack_from("<Q", self.data, self.off(va))[0]

    def varint(self, va):
        x = shift = 0
        while True:
            b = self.u8(va)
            va += 1
            x |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return x, va

    def name(self, va):
        """A runtime name: flags byte, varint length, bytes, optional varint-prefixed tag."""
        flags = self.u8(va)
        n, p = self.varint(va + 1)
        text = self.data[self.off(p):self.off(p) + n].decode("utf-8", "replace")
        p += n
        tag = ""
        if flags & 2:
            tn, p = self.varint(p)
            tag = self.data[self.off(p):self.off(p) + tn].decode("utf-8", "replace")
        return text, tag, flags

    # abi.Type (48 bytes): size, ptrbytes, hash u32, tflag u8, align, fieldalign, kind u8,
    # equal, gcdata, str nameOff i32, ptrToThis typeOff i32.
    def kind(self, t):
        return self.u8(t + 23) & 0x1F

    def type_name(self, t):
        text, _, _ = self.name(self.types_base + self.i32(t + 40))
        return text[1:] if self.u8(t + 20) & 2 else text

    def pkg_path(self, t):
        if not self.u8(t + 20) & 1:  # no uncommon type
            return None
        k = self.kind(t)
        size = {25: 80, 22: 56, 23: 56, 17: 72}.get(k, 48 if k in KIND and k not in (20, 21) else None)
        if size is None:
            return None
        po = self.i32(t + size)
        return self.name(self.types_base + po)[0] if po else ""

    def describe(self, t, depth=0):
        k = self.kind(t)
        if k in (22, 23) and depth < 4:
            return f"{KIND[k]}:" + self.describe(self.u64(t + 48), depth + 1)
        if k == 21 and depth < 4:
            return f"map[{self.describe(self.u64(t + 48), depth + 1)}]{self.describe(self.u64(t + 56), depth + 1)}"
        base = KIND.get(k, f"kind{k}")
        if self.u8(t + 20) & 4 and k == 25:  # named struct
            return f"struct({self.type_name(t)})"
        return base

    def structs(self):
        tl_addr, tl_off, tl_size = self.sections[".typelink"]
        offsets = struct.unpack_from(f"<{tl_size // 4}i", self.data, tl_off)
        stack = [self.types_base + o for o in offsets]
        seen, out = set(), {}
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            try:
                k = self.kind(t)
            except ValueError:
                continue
            if k in (17, 22, 23):
                stack.append(self.u64(t + 48))
            elif k == 21:
                stack += [self.u64(t + 48), self.u64(t + 56)]
            elif k == 25:
                fields = []
                ptr, n = self.u64(t + 56), self.u64(t + 64)
                for i in range(n):
                    f = ptr + 24 * i
                    fname, tag, _ = self.name(self.u64(f))
                    ft = self.u64(f + 8)
                    stack.append(ft)
                    fields.append([fname, self.describe(ft), tag])
                if self.u8(t + 20) & 4:
                    pkg = self.pkg_path(t)
                    if pkg:
                        out[f"{pkg}.{self.type_name(t).split('.', 1)[-1]}"] = fields
        return out


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    merged = {}
    for arg in sys.argv[2:]:
        path, _, only = arg.partition(":")
        prefixes = tuple(only.split(",")) if only else PACKAGES
        for key, fields in Binary(path).structs().items():
            if key.startswith(PACKAGES) and key.startswith(prefixes) and key not in merged:
                merged[key] = fields
    with open(sys.argv[1], "w") as f:
        f.write("{\n")
        items = sorted(merged.items())
        for i, (key, fields) in enumerate(items):
            f.write(f"{json.dumps(key)}: {json.dumps(fields)}{',' if i + 1 < len(items) else ''}\n")
        f.write("}\n")
    print(f"{len(merged)} structs written to {sys.argv[1]}")


if __name__ == "__main__":
    main()
