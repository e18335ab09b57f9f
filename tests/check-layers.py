#!/usr/bin/env python3
"""check-layers.py - the structure check of docs/architecture.md ("Layers").

Reads every `#include "..."` in the C files under src/ and fails on
  (a) an include that goes up the layer order or sideways between peers:
          cli > train > io > nn > {data, metrics, backend} > core
      (a file may include files of its own folder and of lower layers only; data, metrics
      and backend are peers and must not include each other), and
  (b) any include cycle between files.
Each violation is printed with file and line.

Usage: check-layers.py SOURCE_ROOT       check SOURCE_ROOT/src; exit 1 on any violation
       check-layers.py --self-test       check the checker on a small fake tree
"""
import os
import re
import sys
import tempfile

# Rank of each folder under src/: a file may include a file of a strictly lower rank, or of
# its own folder. Equal ranks in different folders are peers, which must not include each other.
RANKS = {
    "core": 0,
    "data": 1, "metrics": 1, "backend": 1,
    "nn": 2,
    "io": 3,
    "train": 4,
    "cli": 5,
}

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
SOURCE_SUFFIXES = (".c", ".h")


def source_files(src):
    """Every .c and .h file under src, as paths relative to src, sorted."""
    found = []
    for folder, _, names in os.walk(src):
        for name in names:
            if name.endswith(SOURCE_SUFFIXES):
                found.append(os.path.relpath(os.path.join(folder, name), src))
    return sorted(found)


def resolve(src, including, target):
    """The file (relative to src) that `#include "target"` in `including` names, or None for a
    file outside src (the public header, generated files, cl/ helpers). The compiler looks
    next to the including file first, then in src/ (meson's include_directories)."""
    for base in (os.path.dirname(including), ""):
        candidate = os.path.normpath(os.path.join(base, target))
        if candidate.startswith(".."):
            continue
        if os.path.isfile(os.path.join(src, candidate)):
            return candidate
    return None


def read_includes(src):
    """{file: [(line, included file), ...]} for includes that resolve inside src."""
    graph = {}
    for rel in source_files(src):
        edges = []
        with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as f:
            for lineno, text in enumerate(f, 1):
                m = INCLUDE.match(text)
                if m:
                    target = resolve(src, rel, m.group(1))
                    if target is not None:
                        edges.append((lineno, target))
        graph[rel] = edges
    return graph


def folder_of(rel):
    parts = rel.split(os.sep)
    return parts[0] if len(parts) > 1 else ""


def layer_violations(graph):
    """(file, line, message) for each include that breaks the layer order."""
    found = []
    for rel, edges in sorted(graph.items()):
        mine = folder_of(rel)
        for lineno, target in edges:
            theirs = folder_of(target)
            if mine == theirs:
                continue
            if mine not in RANKS or theirs not in RANKS:
                unknown = mine if mine not in RANKS else theirs
                found.append((rel, lineno, f"includes {target}: folder '{unknown or 'src'}' "
                              "has no layer (add it to RANKS and docs/architecture.md)"))
            elif RANKS[theirs] > RANKS[mine]:
                found.append((rel, lineno, f"includes {target}: {mine} may not use the higher "
                              f"layer {theirs}"))
            elif RANKS[theirs] == RANKS[mine]:
                found.append((rel, lineno, f"includes {target}: {mine} and {theirs} are peers "
                              "and may not include each other"))
    return found


def cycles(graph):
    """Each include cycle once, as a list of (file, line, included file) edges, found as the
    strongly connected components of the include graph (Tarjan) with one cycle walked in each."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = [0]

    def strongconnect(v):
        # Iterative Tarjan: deep include chains must not hit Python's recursion limit.
        work = [(v, iter(graph.get(v, ())))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for _, w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(graph.get(w, ()))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                comps.append(comp)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)

    found = []
    for comp in comps:
        members = set(comp)
        self_loop = any(t == comp[0] for _, t in graph.get(comp[0], ()))
        if len(comp) == 1 and not self_loop:
            continue
        found.append(walk_cycle(graph, min(comp), members))
    return sorted(found)


def walk_cycle(graph, start, members):
    """One cycle through start inside a strongly connected component (breadth-first, so the
    shortest), as (file, line, included file) edges."""
    came_from = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for lineno, target in graph.get(node, ()):
            if target not in members:
                continue
            if target == start:
                path = [(node, lineno, target)]
                while came_from[node] is not None:
                    prev, prev_line = came_from[node]
                    path.append((prev, prev_line, node))
                    node = prev
                return list(reversed(path))
            if target not in came_from:
                came_from[target] = (node, lineno)
                queue.append(target)
    return []


def check(src, out=sys.stdout):
    """Prints every violation under src; returns their count."""
    graph = read_includes(src)
    problems = 0
    for rel, lineno, message in layer_violations(graph):
        print(f"src/{rel}:{lineno}: layering: {message}", file=out)
        problems += 1
    for cycle in cycles(graph):
        chain = " -> ".join([cycle[0][0]] + [t for _, _, t in cycle])
        print(f"src/{cycle[0][0]}:{cycle[0][1]}: include cycle: {chain}", file=out)
        for rel, lineno, target in cycle:
            print(f"    src/{rel}:{lineno}: includes {target}", file=out)
        problems += 1
    return problems


def self_test():
    """Checks the checker: a clean fake tree passes; one with a layer violation and a cycle
    reports exactly those two, with file and line."""
    import io
    files = {
        "core/internal.h": '#include "clann.h"\n',
        "core/status.c": '#include "core/internal.h"\n',
        "backend/backend.h": '#include "core/internal.h"\n',
        "nn/model.h": '#include "backend/backend.h"\n#include "data/table.h"\n',
        "data/table.h": '#include "core/internal.h"\n',
        "train/fit.c": '#include "nn/model.h"\n#include "fit_state.h"\n',
        "train/fit_state.h": '#include "nn/model.h"\n',
        "cli/main.c": '#include "train/fit_state.h"\n#include "cli.h"\n',
        "cli/cli.h": "/* no includes */\n",
    }
    bad = {
        # nn may not use io (line 2), and a.h <-> b.h is a cycle.
        "nn/layers.c": '#include "nn/model.h"\n#include "io/spec.h"\n',
        "io/spec.h": '#include "nn/model.h"\n',
        "train/a.h": '#include "b.h"\n',
        "train/b.h": '/* b */\n#include "train/a.h"\n',
    }
    with tempfile.TemporaryDirectory() as tmp:
        def write(tree):
            for rel, text in tree.items():
                path = os.path.join(tmp, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
        write(files)
        out = io.StringIO()
        assert check(tmp, out) == 0, "clean tree reported:\n" + out.getvalue()
        write(bad)
        out = io.StringIO()
        count = check(tmp, out)
        text = out.getvalue()
        assert count == 2, f"expected 2 violations, got {count}:\n{text}"
        assert "src/nn/layers.c:2: layering: includes io/spec.h" in text, text
        assert "include cycle: train/a.h -> train/b.h -> train/a.h" in text, text
        assert "src/train/b.h:2: includes train/a.h" in text, text
        # Peers: data may not include backend.
        write({"data/csv.c": '#include "backend/backend.h"\n'})
        out = io.StringIO()
        assert check(tmp, out) == 3 and "are peers" in out.getvalue(), out.getvalue()
    print("check-layers self-test: ok")
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src = os.path.join(argv[1], "src")
    problems = check(src)
    if problems:
        print(f"{problems} structure violation(s); the rule is in docs/architecture.md",
              file=sys.stderr)
        return 1
    print("layers and includes: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
