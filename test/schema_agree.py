#!/usr/bin/python3
"""schema-agree: telemail's schema validator and python-jsonschema must agree.

usage: schema_agree.py TELEMAIL-REPORT   (env: TM_TESTDIR = test/, TM_SRCDIR = source root)

The report schema (schemas/telemail-report-v1.yaml) is checked with
jsonschema.Draft202012Validator.check_schema. Then every report in
test/reports/good and test/reports/bad, and a few hundred seeded mutations of
the good reports (fields deleted, types swapped, numbers out of range, extra
keys, strings too long or off-pattern, lists too long or repeated), get two
verdicts, valid or invalid: python-jsonschema's and that of
`telemail-report validate FILE...` (one line per file, "FILE: ok" or
"FILE: <reason.code>: <message>"). Every verdict must agree.

Python reads YAML the way telemail's reader does (YAML 1.2 core schema): no
timestamps, booleans only true/false, decimal/0o/0x integers, core floats.
A file telemail rejects before schema validation (a reader code such as
report.syntax or report.duplicate_key) is not compared and is counted apart.
report.semantics and report.pii_value come after the schema passed (rules
JSON Schema cannot express: real calendar dates, one firmware entry per
component, no e-mail address in any string value), so for the comparison
they count as "the schema says valid".

Prints the disagreements, then "schema-agree: N passed, M failed"; exits 1 on
any disagreement or when the tool misbehaves.
"""
import copy
import json
import os
import random
import re
import subprocess
import sys
import tempfile

import jsonschema
import yaml

SCHEMA_CODES = {
    'report.schema', 'report.unknown_field', 'report.missing_field',
    'report.wrong_type', 'report.pii_field',
}
AFTER_SCHEMA = {'report.semantics', 'report.pii_value'}
SEED = 20240501
MUTANTS = 420  # in all, taken from the good reports in turn
BATCH = 200  # files per telemail-report call

INT_TAG = 'tag:yaml.org,2002:int'
FLOAT_TAG = 'tag:yaml.org,2002:float'
BOOL_TAG = 'tag:yaml.org,2002:bool'
TIMESTAMP_TAG = 'tag:yaml.org,2002:timestamp'


class CoreLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalar typing (as parser/report/yaml_read.c)."""


CoreLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in (INT_TAG, FLOAT_TAG, BOOL_TAG, TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
CoreLoader.add_implicit_resolver(
    BOOL_TAG, re.compile(r'^(?:true|True|TRUE|false|False|FALSE)$'), list('tTfF'))
CoreLoader.add_implicit_resolver(
    INT_TAG, re.compile(r'^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$'), list('-+0123456789'))
CoreLoader.add_implicit_resolver(
    FLOAT_TAG,
    re.compile(r'^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?'
               r'|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$'),
    list('-+.0123456789'))


def construct_core_int(loader, node):
    text = loader.construct_scalar(node)
    if text.startswith('0o'):
        return int(text[2:], 8)
    if text.startswith('0x'):
        return int(text[2:], 16)
    return int(text, 10)  # "017" is seventeen in YAML 1.2


def construct_core_float(loader, node):
    return float(loader.construct_scalar(node))


CoreLoader.add_constructor(INT_TAG, construct_core_int)
CoreLoader.add_constructor(FLOAT_TAG, construct_core_float)


def load_yaml(path):
    with open(path, 'rb') as f:
        return yaml.load(f, Loader=CoreLoader)


# ---- mutations -------------------------------------------------------------

TYPE_POOL = ['x', 7, 2.5, 1.0, True, None, [], {}, [1], {'k': 1}]
NUMBER_POOL = [-4, -3, -2, -1, 0, 1, 1.0, 1.5, -0.5, 255, 65535, 65536, 2147483647,
               2147483648, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 1, 9007199254740992.0,
               2 ** 63 - 1, -(2 ** 63)]
STRING_POOL = ['', ' ', 'x' * 256, 'x' * 257, '\u00e9' * 256, '\u00e9' * 257,
               '\U0001d11e' * 64, '\U0001d11e' * 65, 'X' * 64, 'X' * 65, 's' * 128, 's' * 129,
               '2024-05-01T08:00:00Z', '2024-05-01T08:00:00.123456789Z', '2024-05-01T08:00:00',
               '2024-05-01T10:00:00+02:00', '2024-05-01t08:00:00z', '192.0.2.1', '::1',
               '00:1b:2c:3d:4e:5f', '00:1B:2C:3D:4E:5F', '5f2c9a4e-1b7d-4c3e-9f10-2a3b4c5d6e7f',
               '5F2C9A4E-1B7D-4C3E-9F10-2A3B4C5D6E7F', 'periodic', 'toner', 'warning',
               'lowToner', 'impressions', 'count', 'a b', 'a/b', 'a!b', 'true', '1', 'null',
               'alice@example.com', 'fw@1.2.3']
# lengths in code points, not bytes: 256 x U+00E9 is 512 bytes and still fits maxLength 256
UNICODE_POOL = ['\u00e9' * 256, '\u00e9' * 257, '\u20ac' * 128, '\u20ac' * 129,
                '\U0001d11e' * 32, '\U0001d11e' * 64, '\U0001d11e' * 65, 'Kopierraum \u00e9\u20ac']
KEY_POOL = ['colour', 'owner', 'x_1', 'Temp', 'user_id', 'notes', 'fuser', 'e-mail', 'Email',
            'level', 'value', 'job', 'jobs_done', 'a.b', '9lives', 'index', 'e_mail',
            'eMail', 'operator_name', 'operator_panel', 'employee', 'cardholder', 'mail',
            'mail_sent', 'mailbox_full']


def walk(doc, path=()):
    """Every (path, value) in the document, the root included."""
    yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from walk(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from walk(v, path + (i,))


def get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def set_at(doc, path, value):
    get(doc, path[:-1])[path[-1]] = value


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def mutate(doc, rng):
    """Apply one random mutation in place; return its description."""
    nodes = list(walk(doc))
    kind = rng.choice(['delete', 'type', 'number', 'key', 'string', 'unicode', 'list'])
    if kind == 'delete':
        path, _ = rng.choice([n for n in nodes if n[0]])
        parent = get(doc, path[:-1])
        del parent[path[-1]]
        return 'delete %s' % '/'.join(map(str, path))
    if kind == 'number':
        cands = [n for n in nodes if is_number(n[1])]
        if cands:
            path, _ = rng.choice(cands)
            v = rng.choice(NUMBER_POOL)
            set_at(doc, path, v)
            return 'number %s = %r' % ('/'.join(map(str, path)), v)
    if kind == 'key':
        path, m = rng.choice([n for n in nodes if isinstance(n[1], dict)])
        k = rng.choice(KEY_POOL)
        v = rng.choice(TYPE_POOL + [1, 'x'])
        m[k] = copy.deepcopy(v)
        return 'key %s/%s = %r' % ('/'.join(map(str, path)), k, v)
    if kind in ('string', 'unicode'):
        cands = [n for n in nodes if isinstance(n[1], str)]
        if cands:
            path, _ = rng.choice(cands)
            v = rng.choice(STRING_POOL if kind == 'string' else UNICODE_POOL)
            set_at(doc, path, v)
            return 'string %s = %r' % ('/'.join(map(str, path)), v[:40])
    if kind == 'list':
        cands = [n for n in nodes if isinstance(n[1], list) and n[1]]
        if cands:
            path, lst = rng.choice(cands)
            if rng.random() < 0.5:
                lst.append(copy.deepcopy(lst[0]))
                return 'repeat %s/0' % '/'.join(map(str, path))
            n = rng.choice([16, 17, 64, 65])
            while len(lst) < n:
                lst.append(copy.deepcopy(lst[len(lst) % max(1, len(lst))]))
            return 'grow %s to %d' % ('/'.join(map(str, path)), n)
    # 'type', and the fallback when a kind found nothing to change
    path, _ = rng.choice([n for n in nodes if n[0]])
    v = rng.choice(TYPE_POOL)
    set_at(doc, path, copy.deepcopy(v))
    return 'type %s = %r' % ('/'.join(map(str, path)), v)


def write_mutants(seeds, outdir):
    """MUTANTS seeded, deterministic mutants of the seed reports, written as
    JSON (a subset of YAML, so both readers type every scalar alike)."""
    rng = random.Random(SEED)
    files = []
    for i in range(MUTANTS):
        name, doc = seeds[i % len(seeds)]
        m = copy.deepcopy(doc)
        what = [mutate(m, rng)]
        if rng.random() < 0.2:
            what.append(mutate(m, rng))
        path = os.path.join(outdir, 'mut%03d-%s.yaml' % (i, name))
        with open(path, 'w', encoding='utf-8') as f:
            f.write('# %s\n' % '; '.join(what).replace('\n', ' '))
            json.dump(m, f, ensure_ascii=False, indent=1)
            f.write('\n')
        files.append(path)
    return files


# ---- verdicts --------------------------------------------------------------

def telemail_verdicts(tool, files):
    """{file: 'ok' | 'reason.code: message'} from `tool validate FILE...`, in batches."""
    out = {}
    for start in range(0, len(files), BATCH):
        batch = files[start:start + BATCH]
        p = subprocess.run([tool, 'validate'] + batch, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, check=False)
        lines = p.stdout.decode('utf-8', 'replace').splitlines()
        # validate writes nothing to stderr; anything there (a sanitizer report) is a failure
        if p.returncode not in (0, 1) or len(lines) != len(batch) or p.stderr:
            sys.exit('schema-agree: %s validate: exit %d, %d lines for %d files\n%s'
                     % (tool, p.returncode, len(lines), len(batch),
                        p.stderr.decode('utf-8', 'replace')))
        for f, line in zip(batch, lines):
            if not line.startswith(f + ': '):
                sys.exit('schema-agree: unexpected output line for %s: %r' % (f, line))
            out[f] = line[len(f) + 2:]
        all_ok = all(out[f] == 'ok' for f in batch)
        if (p.returncode == 0) != all_ok:
            sys.exit('schema-agree: exit status %d does not match the verdicts' % p.returncode)
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tool = sys.argv[1]
    testdir = os.environ.get('TM_TESTDIR', os.path.dirname(os.path.abspath(__file__)))
    srcdir = os.environ.get('TM_SRCDIR', os.path.dirname(testdir))

    schema = load_yaml(os.path.join(srcdir, 'schemas', 'telemail-report-v1.yaml'))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    corpus = []
    seeds = []
    for sub in ('good', 'bad'):
        d = os.path.join(testdir, 'reports', sub)
        for name in sorted(os.listdir(d)):
            if name.endswith('.yaml'):
                corpus.append(os.path.join(d, name))
                if sub == 'good':
                    seeds.append((name[:-5], load_yaml(corpus[-1])))
    if not seeds:
        sys.exit('schema-agree: no good reports to mutate in %s' % testdir)

    with tempfile.TemporaryDirectory(prefix='schema-agree.') as tmp:
        files = corpus + write_mutants(seeds, tmp)
        verdicts = telemail_verdicts(tool, files)
        passed, failed, excluded = 0, [], 0
        for f in files:
            tm = verdicts[f]
            reason = tm.split(': ', 1)[0]
            if tm != 'ok' and reason not in SCHEMA_CODES and reason not in AFTER_SCHEMA:
                excluded += 1
                continue
            schema_ok = tm == 'ok' or reason in AFTER_SCHEMA
            try:
                errors = list(validator.iter_errors(load_yaml(f)))
                py = 'ok' if not errors else 'invalid: %s at %s' % (
                    errors[0].message[:120], '/'.join(map(str, errors[0].absolute_path)))
            except yaml.YAMLError as e:
                py = 'unreadable: %s' % str(e).replace('\n', ' ')[:120]
            if schema_ok == (py == 'ok'):
                passed += 1
            else:
                with open(f, encoding='utf-8', errors='replace') as fh:
                    first = fh.readline().strip()
                failed.append('%s\n  telemail: %s\n  python:   %s\n  %s'
                              % (os.path.basename(f), tm, py, first[:160]))
    for d in failed:
        print('DISAGREE ' + d)
    print('schema-agree: %d not compared (rejected by the YAML reader before validation)'
          % excluded)
    print('schema-agree: %d passed, %d failed' % (passed, len(failed)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
