#!/usr/bin/env python3
"""The include rule of docs/architecture.md, checked over the #include lines.

Reads the two tables between the <!-- include-rule --> and <!-- library-rule -->
markers of docs/architecture.md and fails, naming file and line, when
- a folder includes a header of a folder it may not reach (a lower layer
  reaching up, or a back end reached past its front door), or
- a third-party library's header is included outside the files allowed it
  (OpenSSL, GMime, libyaml, SQLite, libpq, libcurl, libevent, libESMTP).

usage: include_rule.py SRCDIR
"""
import os
import re
import sys

QUOTED = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
ANGLED = re.compile(r'^\s*#\s*include\s+<([^>]+)>')


def table(doc, marker):
    """Rows of the markdown table after <!-- marker -->, as lists of cells."""
    lines = doc.split('\n')
    try:
        i = lines.index(f'<!-- {marker} -->')
    except ValueError:
        sys.exit(f'docs/architecture.md: no <!-- {marker} --> table')
    rows = []
    for line in lines[i + 1:]:
        if not line.startswith('|'):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if set(cells[0]) <= set('-: '):
            continue
        rows.append(cells)
    return rows[1:]  # the header row


def names(cell):
    return re.findall(r'`([^`]+)`', cell)


def main():
    src = sys.argv[1]
    doc = open(os.path.join(src, 'docs/architecture.md')).read()
    may = {}      # folder -> folders it may include (itself always)
    doors = {}    # folder -> the only files outside it that may include it
    for cells in table(doc, 'include-rule'):
        folder = names(cells[0])[0].rstrip('/')
        may[folder] = {n.rstrip('/') for n in names(cells[1])}
        if len(cells) > 2 and names(cells[2]):
            doors[folder] = set(names(cells[2]))
    libs = []     # (header prefix, allowed path prefixes)
    for cells in table(doc, 'library-rule'):
        libs.append((names(cells[0]), names(cells[1])))

    def folder_of(path):
        best = None
        for f in may:
            if path == f or path.startswith(f + '/'):
                if best is None or len(f) > len(best):
                    best = f
        return best

    bad = []
    seen = 0
    for part in ('parser', 'mailgw', 'agent'):
        for root, _, files in os.walk(os.path.join(src, part)):
            for n in sorted(files):
                if not n.endswith(('.c', '.h')):
                    continue
                path = os.path.relpath(os.path.join(root, n), src)
                mine = folder_of(os.path.dirname(path)) or folder_of(path)
                if mine is None:
                    bad.append(f'{path}: its folder is not in the include rule')
                    continue
                seen += 1
                for no, line in enumerate(open(os.path.join(src, path)), 1):
                    m = QUOTED.match(line)
                    if m:
                        inc = m.group(1)
                        here = os.path.normpath(os.path.join(os.path.dirname(path), inc))
                        target = here if os.path.exists(os.path.join(src, here)) else \
                            os.path.normpath(os.path.join(part, inc))
                        theirs = folder_of(os.path.dirname(target))
                        if theirs is None:
                            bad.append(f'{path}:{no}: "{inc}" is in no folder of the rule')
                        elif theirs != mine and theirs not in may[mine]:
                            bad.append(f'{path}:{no}: {mine}/ may not include {theirs}/ ("{inc}")')
                        elif theirs != mine and theirs in doors and path not in doors[theirs]:
                            bad.append(f'{path}:{no}: {theirs}/ is reached only through '
                                       f'{", ".join(sorted(doors[theirs]))} ("{inc}")')
                        continue
                    m = ANGLED.match(line)
                    if not m:
                        continue
                    inc = m.group(1)
                    if inc.startswith('telemail/'):
                        pub = os.path.join('parser/include', inc)
                        owner = None
                        for cells in table(doc, 'public-headers'):
                            if inc in names(cells[1]):
                                owner = names(cells[0])[0].rstrip('/')
                        if owner is None:
                            bad.append(f'{path}:{no}: <{inc}> has no owner in the public-headers table')
                        elif owner != mine and owner not in may[mine]:
                            bad.append(f'{path}:{no}: {mine}/ may not include <{inc}> ({owner}/)')
                        continue
                    for prefixes, allowed in libs:
                        if any(inc == p or inc.startswith(p) for p in prefixes):
                            if not any(path == a or path.startswith(a) for a in allowed):
                                bad.append(f'{path}:{no}: <{inc}> is allowed only in '
                                           f'{", ".join(allowed)}')
    for b in bad:
        print(b)
    print(f'include rule: {seen} files, {len(bad)} violations')
    return 1 if bad or seen == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
