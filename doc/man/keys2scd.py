#!/usr/bin/env python3
"""Fill a man page's key list from the configuration reader's table.

  keys2scd.py TEMPLATE.scd KEYS.tsv OUT.scd

KEYS.tsv is the output of `PROGRAM check-config --defaults`: one key per line,
KEY<TAB>TYPE<TAB>DEFAULT<TAB>LIMITS<TAB>DESCRIPTION (lines starting with '#'
and empty lines are skipped). Every key becomes one entry of the page's
KEYS section, in the order of the table, where the template says @KEYS@.
A malformed line is an error that names it: the page is never built from a
table it could not read whole."""
import sys


def esc(s):
    # scdoc's inline markup: \ * _ are literal only when escaped
    return s.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


def entries(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 5 or not cols[0] or not cols[1] or not cols[4]:
                sys.exit(f"{path}:{no}: want KEY TYPE DEFAULT LIMITS DESCRIPTION "
                         f"(5 tab-separated fields, KEY, TYPE and DESCRIPTION not empty), "
                         f"got {len(cols)} fields")
            key, typ, default, limits, desc = cols
            lines = [f"*{esc(key)}* ({esc(typ)})"]
            facts = f"Default: {esc(default) if default else 'none'}."
            if limits:
                facts += f" Limits: {esc(limits)}."
            lines.append("\t" + facts)
            lines.append("")
            lines.append("\t" + esc(desc))
            out.append("\n".join(lines))
    if not out:
        sys.exit(f"{path}: no keys")
    return "\n\n".join(out)


def main():
    template, tsv, dest = sys.argv[1:4]
    with open(template, encoding="utf-8") as f:
        text = f.read()
    if text.count("@KEYS@") != 1:
        sys.exit(f"{template}: want exactly one @KEYS@ line")
    with open(dest, "w", encoding="utf-8") as f:
        f.write(text.replace("@KEYS@", entries(tsv)))


main()
