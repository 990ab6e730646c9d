#!/usr/bin/env python3
"""Checks the server's layering (ARCHITECTURE.md): every `crate::` import
points down a layer or stays in its module, except the exceptions listed
below, and no modules import each other in a circle. Inside one module a
parent and its children may refer to each other (the parent re-exports what
its children define); `--verbose` lists those file circles too.

Usage: scripts/layers.py [--verbose]   (exit 1 on a violation)
"""
import os
import re
import sys

ROOT = os.environ.get("LAYERS_SRC") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server", "src")

# Top-level module -> layer (bottom up). Keep in step with ARCHITECTURE.md.
LAYERS = {
    "domain": 1, "config_error": 1,
    "store": 2,
    "auth": 3, "events": 3, "leader": 3, "blob": 3, "outbox": 3, "egress": 3,
    "dispatch": 4, "device_sync": 4, "push": 4, "media": 4, "sla": 4, "live": 4, "work": 4, "timeline": 4, "packet": 4, "intake": 4, "notify": 4, "report": 4, "search": 4, "governance": 4,
    "schedule": 4,
    "automation": 4,
    "knowledge": 4,
    "parts": 4,  # issue 23: parts and van stock
    "app": 5, "config": 5, "progress": 5,
    "http": 6, "web": 6, "cli": 6, "demo": 6,
    "lib": 7, "main": 7,
}

# Imports that run up a layer on purpose: (from module, to module) -> why.
EXCEPTIONS = {
    ("config", "web"): "config.rs gathers the [web] section, which the pages own (web/config.rs)",
}


def module_files():
    files = {}
    for dirpath, _, names in os.walk(ROOT):
        for name in names:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            files[tuple(rel)] = os.path.relpath(path, ROOT)
    return files


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] if "\"" not in line else re.sub(r"^\s*//.*", "", line)
                     for line in text.splitlines())


def use_paths(tree):
    """Expands a use tree `a::{b, c::{d}}` into paths."""
    tree = tree.strip()
    depth = 0
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                prefix = tree[:i].rstrip(":").strip()
                inner = tree[i + 1: tree.rindex("}")]
                parts, buf, d = [], "", 0
                for c in inner:
                    if c == "{":
                        d += 1
                    elif c == "}":
                        d -= 1
                    if c == "," and d == 0:
                        parts.append(buf)
                        buf = ""
                    else:
                        buf += c
                parts.append(buf)
                out = []
                for part in parts:
                    if part.strip():
                        for sub in use_paths(part):
                            out.append(prefix + "::" + sub if prefix else sub)
                return out
            depth += 1
    return [re.split(r"\s+as\s+", tree)[0].strip()]


def resolve(path, module, files):
    """The file module a path names, or None outside the crate."""
    segs = path.split("::")
    if segs[0] == "crate":
        base = []
        segs = segs[1:]
    elif segs[0] in ("super", "self"):
        base = list(module)
        # A file `a/b.rs` is module a::b; `super` is a.
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
    else:
        # `use child::x` names a child module of this one.
        here = [] if module == ("lib",) else list(module)
        if tuple(here + segs[:1]) not in files:
            return None
        base = here
    full = base + segs
    for n in range(len(full), 0, -1):
        if tuple(full[:n]) in files:
            return tuple(full[:n])
    # An item of the crate root (lib.rs).
    return ("lib",)


def edges(files):
    out = {}
    for module, rel in files.items():
        text = strip_comments(open(os.path.join(ROOT, rel), encoding="utf-8").read())
        # Unit tests may reach anywhere.
        text = re.split(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod tests", text)[0]
        targets = set()
        for stmt in re.findall(r"\buse\s+([^;]+);", text, flags=re.S):
            for path in use_paths(stmt):
                target = resolve(path, module, files)
                if target:
                    targets.add(target)
        for path in re.findall(r"\b(?:crate|super)(?:::\w+)+", text):
            target = resolve(path, module, files)
            if target:
                targets.add(target)
        targets.discard(module)
        out[module] = targets
    return out


def top(module):
    return module[0] if module else "lib"


def layer(module):
    return LAYERS.get(top(module))


def sccs(graph):
    index, low, stack, on, result, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                result.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return result


def main():
    verbose = "--verbose" in sys.argv
    files = module_files()
    graph = edges(files)
    failed = False
    unknown = sorted({top(m) for m in files if layer(m) is None})
    if unknown:
        print("modules without a layer (add them to LAYERS):", ", ".join(unknown))
        failed = True
    upward = []
    for src, targets in sorted(graph.items()):
        for dst in sorted(targets):
            ls, ld = layer(src), layer(dst)
            if ls is None or ld is None or top(src) == top(dst):
                continue
            if ld > ls:
                upward.append((src, dst))
    allowed = [(s, d) for s, d in upward if (top(s), top(d)) in EXCEPTIONS]
    wrong = [(s, d) for s, d in upward if (top(s), top(d)) not in EXCEPTIONS]
    for s, d in wrong:
        print(f"upward import: {files[s]} (layer {layer(s)}) -> {files[d]} (layer {layer(d)})")
    failed |= bool(wrong)
    if verbose:
        for s, d in allowed:
            print(f"allowed upward: {files[s]} -> {files[d]}: {EXCEPTIONS[(top(s), top(d))]}")
    modules = {}
    for src, targets in graph.items():
        modules.setdefault(top(src), set()).update(top(d) for d in targets if top(d) != top(src))
    module_circles = sccs(modules)
    for comp in module_circles:
        print("import circle between modules:", " -> ".join(sorted(comp)))
        failed = True
    inside = [c for c in sccs(graph) if len({top(m) for m in c}) == 1]
    if verbose:
        for comp in inside:
            print("circle inside a module:", " -> ".join(sorted(files[m] for m in comp)))
    n_edges = sum(len(t) for t in graph.values())
    print(f"{len(files)} files, {n_edges} imports, {len(wrong)} upward outside the exceptions, "
          f"{len(allowed)} allowed upward, {len(module_circles)} circles between modules "
          f"({len(inside)} parent/child circles inside modules)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
