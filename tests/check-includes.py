#!/usr/bin/python3
"""Fails when a daemon file includes one of a higher layer, when modules
include each other in a circle, or when a file belongs to no module.

The layers, what each may include, and which module (and so which layer)
each file belongs to are read from the tables between "<!-- layers" and
"<!-- /layers -->" in docs/daemon.md, the one place they are written.

Every `#include "..."` of every file under daemon/ is resolved the way the
compiler resolves it: beside the including file first, then in the
daemon's include folders (daemon/, daemon/store/). An include that is found
in none of them (a plugin library's header, a generated file) is outside the
daemon and not checked here.

    check-includes.py SOURCE_ROOT
"""
import fnmatch
import os
import re
import sys

INCLUDE_DIRS = ["", "store"]  # under daemon/, after the including file's own folder


def read_tables(doc):
    text = open(doc, encoding="utf-8").read()
    m = re.search(r"<!-- layers[^\n]*-->\n(.*?)<!-- /layers -->", text, re.S)
    if not m:
        sys.exit(f"{doc}: no <!-- layers ... --> <!-- /layers --> block")
    may, modules = {}, []
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or set("".join(cells)) <= set("-: "):
            continue
        if cells[0] in ("layer", "module"):
            continue
        if len(cells) == 2:
            may[cells[0]] = {x.strip() for x in cells[1].split(",") if x.strip()}
        elif len(cells) == 3:
            patterns = re.findall(r"`([^`]+)`", cells[2])
            modules.append((cells[0], cells[1], patterns))
        else:
            sys.exit(f"{doc}: a layers row with {len(cells)} cells: {line}")
    for name, layer, _ in modules:
        if layer not in may:
            sys.exit(f"{doc}: module {name!r} is in layer {layer!r}, which the layer table lacks")
    for layer, below in may.items():
        for b in below:
            if b not in may:
                sys.exit(f"{doc}: layer {layer!r} may include {b!r}, which the layer table lacks")
    return may, modules


def module_of(rel, modules):
    """The module whose pattern names REL most precisely (most literal characters)."""
    best, best_score = None, -1
    for name, layer, patterns in modules:
        for p in patterns:
            if fnmatch.fnmatchcase(rel, p):
                score = len(p.replace("*", "").replace("?", ""))
                if score > best_score:
                    best, best_score = (name, layer), score
    return best


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    daemon = os.path.join(root, "daemon")
    may, modules = read_tables(os.path.join(root, "docs", "daemon.md"))

    files = []
    for dirpath, _, names in os.walk(daemon):
        for n in names:
            if n.endswith((".cpp", ".h")):
                files.append(os.path.relpath(os.path.join(dirpath, n), daemon))
    files.sort()

    problems = []
    owner = {}
    for rel in files:
        m = module_of(rel, modules)
        if m is None:
            problems.append(f"daemon/{rel}: in no module of docs/daemon.md's layer table")
        else:
            owner[rel] = m

    include_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
    edges = {}  # module -> {module: "daemon/file:line includes X"}
    for rel in files:
        if rel not in owner:
            continue
        name, layer = owner[rel]
        with open(os.path.join(daemon, rel), encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                m = include_re.match(line)
                if not m:
                    continue
                target = None
                for base in [os.path.dirname(rel)] + INCLUDE_DIRS:
                    candidate = os.path.normpath(os.path.join(base, m.group(1)))
                    if not candidate.startswith("..") and os.path.isfile(os.path.join(daemon, candidate)):
                        target = candidate
                        break
                if target is None or target not in owner:
                    continue  # outside the daemon (plugins, generated), or reported above
                tname, tlayer = owner[target]
                where = f"daemon/{rel}:{lineno} includes daemon/{target}"
                if tlayer != layer and tlayer not in may[layer]:
                    problems.append(f"{where}: {name} ({layer}) may not include {tname} ({tlayer}); "
                                    f"{layer} may include {', '.join(sorted(may[layer])) or 'only itself'}")
                if tname != name:
                    edges.setdefault(name, {}).setdefault(tname, where)

    # Cycles between modules: depth-first search, each cycle reported once.
    seen_cycles = set()
    state = {}

    def visit(node, path):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):]
                key = frozenset(cycle)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    hops = [edges[a][b] for a, b in zip(cycle, cycle[1:] + [cycle[0]])]
                    problems.append("a cycle: " + " → ".join(cycle + [cycle[0]]) + "\n    " +
                                    "\n    ".join(hops))
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])

    if problems:
        print("daemon includes against the layers of docs/daemon.md:")
        for p in problems:
            print("  " + p)
        print(f"{len(problems)} problem(s) in {len(files)} files")
        return 1
    print(f"{len(files)} files in {len({m for m in owner.values()})} modules: every include goes one way")
    return 0


if __name__ == "__main__":
    sys.exit(main())
