#!/usr/bin/python3
"""Fails when a daemon file includes one of a higher layer, when modules
include each other in a circle, when a file belongs to no module, or when a
plugin's plain C++ core (plugins/NAME/core/) includes the elements above it.

The layers, what each may include, and which module (and so which layer)
each file belongs to are read from the tables between "<!-- layers" and
"<!-- /layers -->" in docs/daemon.md, the one place they are written.

Every `#include "..."` of every file under daemon/ is resolved the way the
compiler resolves it: beside the including file first, then in the
daemon's include folders (daemon/, daemon/store/). An include that is found
in none of them (a plugin library's header, a generated file) is outside the
daemon and not checked here.

A plugin's core/ is the library its elements stand on (as gst-plugins-bad's
rtmp2/rtmp/ is): no file in it includes a file from the top of a plugin
folder (an element, its private children, the plugin file). An include is
resolved beside the including file first, then in every plugin's core/ (the
core libraries' include folders); a name found only at the top of a plugin
folder is refused.

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


def check_plugin_cores(root):
    """Problems in plugins/*/core/ (an include of an element file), and the
    number of files read."""
    plugins = os.path.join(root, "plugins")
    if not os.path.isdir(plugins):
        return [], 0
    cores, tops = [], {}
    for name in sorted(os.listdir(plugins)):
        folder = os.path.join(plugins, name)
        if not os.path.isdir(folder) or name == "common":
            continue
        for n in sorted(os.listdir(folder)):
            if os.path.isfile(os.path.join(folder, n)) and n.endswith((".cpp", ".h")):
                tops.setdefault(n, f"plugins/{name}/{n}")
        if os.path.isdir(os.path.join(folder, "core")):
            cores.append(os.path.normpath(os.path.join(folder, "core")))

    include_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
    problems, count = [], 0
    for core in cores:
        for n in sorted(os.listdir(core)):
            if not n.endswith((".cpp", ".h")):
                continue
            count += 1
            rel = os.path.relpath(os.path.join(core, n), root)
            with open(os.path.join(core, n), encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    m = include_re.match(line)
                    if not m:
                        continue
                    beside = os.path.normpath(os.path.join(core, m.group(1)))
                    if os.path.isfile(beside):
                        if os.path.dirname(beside) not in cores:
                            problems.append(f"{rel}:{lineno} includes "
                                            f"{os.path.relpath(beside, root)}: "
                                            "a core does not include the elements above it")
                        continue
                    if any(os.path.isfile(os.path.join(c, m.group(1))) for c in cores):
                        continue
                    if m.group(1) in tops:
                        problems.append(f"{rel}:{lineno} includes {tops[m.group(1)]}: "
                                        "a core does not include the elements above it")
    return problems, count


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

    core_problems, core_files = check_plugin_cores(root)
    if problems or core_problems:
        if problems:
            print("daemon includes against the layers of docs/daemon.md:")
            for p in problems:
                print("  " + p)
        if core_problems:
            print("plugin cores including the elements above them:")
            for p in core_problems:
                print("  " + p)
        print(f"{len(problems) + len(core_problems)} problem(s) in {len(files) + core_files} files")
        return 1
    print(f"{len(files)} files in {len({m for m in owner.values()})} modules: every include goes one way; "
          f"{core_files} files in plugin cores: none includes an element")
    return 0


if __name__ == "__main__":
    sys.exit(main())
