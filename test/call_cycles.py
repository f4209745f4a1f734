#!/usr/bin/env python3
"""No call cycles between the files of one library or program.

A file A that calls a function defined in B, while B calls one defined in A
(or A → B → C → A), is one module cut in two: neither half can be read,
tested or moved without the other. The layers of docs/architecture.md are
one-way between folders; this check holds the same between the files of one
target (libtelemail, gwcore, telemail-mailgw, the agent …).

It reads the build tree, not the sources: for every target's object files
(compile_commands.json names the source of each), `nm` gives the global
symbols each object defines and those it uses; an edge A → B is a symbol
used by A and defined by B. Every strongly connected component of more than
one file is a cycle and is printed with the symbols that close it.

A cycle wholly inside one of the folders of KNOWN is reported as known and
does not fail the check, as long as the work named there has not broken it;
once no cycle is left in such a folder, the check fails until its entry is
deleted, so the list only shrinks.

usage: call_cycles.py BUILDDIR
"""
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict

DEFINED = set('TDBRVW')   # text, data, bss, read-only, weak

# Cycles left for now: folder -> why, and what breaks it.
KNOWN = {
    'mailgw/store/': 'after the store front door and base helpers work: the '
                     'SQLite back end calls value helpers in store.c (outcome '
                     'names, UTC parsing); its ops files call statement '
                     'helpers in store_sqlite.c, which holds the ops table',
}


def symbols(nm, obj):
    """(defined, undefined) global symbol names of one object file."""
    out = subprocess.run([nm, '-P', '-g', obj], check=True,
                         capture_output=True, text=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == 'U':
            used.add(name)
        elif kind.upper() in DEFINED:
            defined.add(name)
    return defined, used


def components(nodes, edges):
    """Tarjan's strongly connected components."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
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
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    nm = shutil.which('nm')
    if nm is None:
        sys.exit('call_cycles.py: no nm on PATH')
    with open(os.path.join(build, 'compile_commands.json')) as f:
        commands = json.load(f)

    # target (the object's folder, e.g. mailgw/libgwcore.a.p) → {source: object}
    targets = defaultdict(dict)
    src_root = None
    for c in commands:
        obj = os.path.join(c['directory'], c['output'])
        src = os.path.normpath(os.path.join(c['directory'], c['file']))
        targets[os.path.dirname(c['output'])][src] = obj
        if src_root is None or not src.startswith(src_root):
            src_root = os.path.commonpath([src, src_root or src])

    def name(src):
        return os.path.relpath(src, src_root) if src_root else src

    cycles = 0
    known_seen = set()
    for target in sorted(targets):
        files = targets[target]
        if len(files) < 2:
            continue
        defs, uses = {}, {}
        for src, obj in files.items():
            if not os.path.exists(obj):
                sys.exit(f'call_cycles.py: {os.path.relpath(obj, build)} is not built')
            defs[src], uses[src] = symbols(nm, obj)
        owner = {}
        for src, d in defs.items():
            for s in d:
                owner[s] = src
        edges = defaultdict(set)
        why = defaultdict(set)     # (a, b) → symbols of b that a uses
        for a, u in uses.items():
            for s in u:
                b = owner.get(s)
                if b is not None and b != a:
                    edges[a].add(b)
                    why[(a, b)].add(s)
        for comp in components(files, edges):
            if len(comp) < 2:
                continue
            names = [name(a) for a in comp]
            known = next((k for k in KNOWN if all(n.startswith(k) for n in names)), None)
            if known is not None:
                known_seen.add(known)
                print(f'{target}: known call cycle in {known} ({KNOWN[known]}):')
            else:
                cycles += 1
                print(f'{target}: call cycle between {len(comp)} files:')
            members = set(comp)
            for a in comp:
                for b in sorted(edges[a] & members):
                    syms = ' '.join(sorted(why[(a, b)]))
                    print(f'  {name(a)} -> {name(b)}: {syms}')
    stale = sorted(set(KNOWN) - known_seen)
    for k in stale:
        print(f'{k}: no call cycle left; delete its entry in KNOWN (test/call_cycles.py)')
    if cycles:
        print(f'{cycles} call cycle(s) between files')
    if cycles or stale:
        return 1
    print('no call cycles between files')
    return 0


if __name__ == '__main__':
    sys.exit(main())
