#!/usr/bin/env python3
"""Every man page renders without a warning, and each configuration page
lists every key of its table.

  man_pages.py PAGE... [--keys PAGE_NAME TABLE.tsv]...

`MANWIDTH=80 man --warnings -l PAGE` must print the page and nothing on
standard error (groff and tbl warnings: a bad escape, a line too long, an
unknown macro). For a page given with --keys, each KEY of the table (the
`check-config --defaults` format) must appear in the rendered text."""
import os, subprocess, sys

pages, keys = [], {}
args = sys.argv[1:]
while args:
    a = args.pop(0)
    if a == "--keys":
        page = args.pop(0)
        keys[page] = args.pop(0)
    else:
        pages.append(a)
if not pages:
    sys.exit("FAIL: no pages given")
failed = False
env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_DISABLE_SECCOMP="1")
for page in pages:
    r = subprocess.run(["man", "--warnings", "-l", page], env=env,
                       capture_output=True, text=True)
    name = os.path.basename(page)
    if r.returncode != 0 or r.stderr.strip() or len(r.stdout) < 200:
        print(f"FAIL {name}: rc={r.returncode}, warnings:\n{r.stderr}")
        failed = True
        continue
    missing = []
    if name in keys:
        text = " ".join(r.stdout.split())
        with open(keys[name]) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    k = line.split("\t")[0]
                    if k not in text:
                        missing.append(k)
    if missing:
        print(f"FAIL {name}: keys not in the page: {', '.join(missing)}")
        failed = True
    else:
        print(f"ok {name} ({len(r.stdout.splitlines())} lines"
              + (f", every key of {os.path.basename(keys[name])}" if name in keys else "") + ")")
sys.exit(1 if failed else 0)
