#!/usr/bin/env bash
# Make the committed .eml fixtures of the gateway pipeline (test/eml/replay).
#
#   test/eml/make-fixtures.sh BUILDDIR [--new-pki]
#
# BUILDDIR is a meson build directory with parser/telemail-report built.
# Run it by hand when the fixtures must change, check the result with
#   meson test -C BUILDDIR pipeline
# and commit test/eml/pki, test/eml/replay. See test/eml/README.md.
#
# (a) test/eml/pki: made once (or again with --new-pki) by
#     test/pki/make-test-pki.sh (the demo PKI plus the bad certificates) with
#     100-year validity and CRL, plus the devices only the fixtures need.
#     These keys are test keys: committed under test/ and nowhere else.
# (b) test/eml/replay/NN-name.eml + NN-name.expect: reports from
#     test/eml/reports sealed with telemail-report seal or the openssl cms
#     command line (an independent sender; also the only way to seal a report
#     that breaks the schema), then changed as a relay or an attacker would.
#     The NN prefix is the replay order: duplicates and conflicts refer to
#     earlier fixtures.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(realpath "${1:?usage: make-fixtures.sh BUILDDIR [--new-pki]}")
new_pki=${2:-}
report_tool=$build/parser/telemail-report
[ -x "$report_tool" ] || { echo "make-fixtures: $report_tool: not built" >&2; exit 2; }
command -v python3 >/dev/null || { echo "make-fixtures: python3 is needed" >&2; exit 2; }
command -v faketime >/dev/null || { echo "make-fixtures: faketime is needed" >&2; exit 2; }

pki=$here/pki
out=$here/replay
reports=$here/reports
work=$(mktemp -d /tmp/tm-fixtures.XXXXXX)
trap 'rm -rf "$work"' EXIT

ossl() { openssl "$@" 2>/dev/null || { echo "make-fixtures: openssl $1 failed" >&2; openssl "$@"; }; }

# ---- (a) the fixture PKI ----
if [ "$new_pki" = "--new-pki" ] || [ ! -f "$pki/ca.pem" ]; then
	rm -rf "$pki"
	mkdir -p "$pki"
	# made as of 2024-01-01, so that it is valid when the fixtures are signed
	# (at their reports' generated_at, 2024) and for a century after
	pki_clock=(env TZ=UTC faketime -f "@2024-01-01 00:00:00")
	TM_PKI_NOW=keep TM_PKI_DAYS=36500 TM_CRL_DAYS=36500 "${pki_clock[@]}" \
		bash "$src/test/pki/make-test-pki.sh" "$pki" "$work/pki.stamp" "$src"
	(
		ossl() { "${pki_clock[@]}" openssl "$@" 2>/dev/null || { echo "make-fixtures: openssl $1 failed" >&2; exit 1; }; }
		cd "$pki"
		for s in XK300001 XK400001; do
			ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "dev-$s.key"
			ossl req -new -config ca/ca.cnf -key "dev-$s.key" \
				-subj "/O=telemail demo/CN=device $s/serialNumber=$s" -out "$s.csr"
			ossl ca -batch -config ca/ca.cnf -extensions ext_device -notext \
				-in "$s.csr" -out "dev-$s.pem"
			rm -f "$s.csr"
		done
		chmod 0644 ./*.pem
		chmod 0600 ./*.key
		# the CA database is only needed to issue more: a new PKI is made whole
		rm -rf ca ./*.srl
	)
	echo "make-fixtures: new PKI in $pki"
fi

# ---- (b) the fixtures ----
rm -rf "$out"
mkdir -p "$out"
gw_to=telemail@gateway.example

from_of() { echo "$(echo "$1" | tr 'A-Z' 'a-z')@devices.example"; }

# signed_at REPORT: sets clock to the command prefix that makes a signature
# at the report's generated_at (the gateway refuses a generated_at that
# differs from the signing time: report.signing_time); none for a report
# without one or with one in the future (report.future is checked first).
signed_at() {
	local g
	g=$(grep -o 'generated_at: "[0-9-]*T[0-9:]*Z"' "$1" | head -1 |
		sed 's/.*"\([0-9-]*\)T\([0-9:]*\)Z"/\1 \2/')
	clock=()
	if [ -n "$g" ] && [ "$(date -u -d "$g UTC" +%s)" -le "$(date -u +%s)" ]; then
		clock=(env TZ=UTC faketime -f "@$g")
	fi
}

# seal_tm OUT REPORT SIGNER GW opaque|detached FROM
seal_tm() {
	local mode=()
	[ "$5" = detached ] && mode=(--detached)
	signed_at "$2"
	"${clock[@]}" "$report_tool" seal --cert "$pki/$3.pem" --key "$pki/$3.key" --to-cert "$pki/$4.pem" \
		--from "$6" --to "$gw_to" "${mode[@]}" -o "$1" "$2"
}

# seal_ossl OUT REPORT SIGNER GW opaque|detached|none CIPHER|none FROM MSGID
#   sign (unless none) with openssl cms -sign, then encrypt (unless none)
#   with openssl cms -encrypt; headers Message-ID and Date are added.
seal_ossl() {
	local o=$1 rep=$2 signer=$3 gw=$4 mode=$5 cipher=$6 from=$7 msgid=$8
	python3 - "$rep" "$work/entity" "$mode" <<'PY'
import sys
body = open(sys.argv[1], "rb").read()
if sys.argv[3] == "detached":  # a clear-signed entity is canonical (CRLF) before signing
    body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
open(sys.argv[2], "wb").write(b"Content-Type: application/yaml\r\n\r\n" + body)
PY
	local inner=$work/entity
	if [ "$mode" != none ]; then
		local nodetach=-nodetach
		[ "$mode" = detached ] && nodetach=
		local hdr=()
		[ "$cipher" = none ] && hdr=(-from "$from" -to "$gw_to" -subject "telemail report")
		signed_at "$rep"
		"${clock[@]}" openssl cms -sign $nodetach -binary -md sha256 -signer "$pki/$signer.pem" \
			-inkey "$pki/$signer.key" -outform SMIME "${hdr[@]}" -in "$work/entity" \
			-out "$work/signed"
		inner=$work/signed
	fi
	if [ "$cipher" != none ]; then
		local keyopt=()
		[ "$gw" = gw-rsa ] && keyopt=(-keyopt rsa_padding_mode:oaep)
		ossl cms -encrypt "$cipher" -recip "$pki/$gw.pem" "${keyopt[@]}" -from "$from" \
			-to "$gw_to" -subject "telemail report" -in "$inner" -out "$work/enveloped"
		inner=$work/enveloped
	fi
	python3 - "$inner" "$o" "$msgid" <<'PY'
import sys
raw = open(sys.argv[1], "rb").read()
eol = b"\r\n" if raw.find(b"\r\n") == raw.find(b"\n") - 1 else b"\n"   # as the first line ends
hdr = b"Message-ID: <" + sys.argv[3].encode() + b">" + eol + b"Date: Sat, 01 Jun 2024 12:00:00 +0000" + eol
open(sys.argv[2], "wb").write(hdr + raw)
PY
}

# mutate KIND IN OUT: what relays and attackers do to a message
mutate() {
	python3 - "$@" <<'PY'
import base64, re, sys
kind, src, dst = sys.argv[1:4]
raw = open(src, "rb").read()
sep = raw.index(b"\r\n\r\n")
head, body = raw[:sep + 2], raw[sep + 4:]
if kind == "mta":
    # Postfix local delivery: trace headers on top, LF line ends
    trace = (b"Return-Path: <xk100001@devices.example>\r\n"
             b"Delivered-To: telemail@gateway.example\r\n"
             b"Received: from relay.site.example (relay.site.example [192.0.2.25])\r\n"
             b"\tby mx.gateway.example (Postfix) with ESMTPS id 4Xk2Lp0m3Wz9\r\n"
             b"\tfor <telemail@gateway.example>; Sat, 01 Jun 2024 13:00:05 +0000 (UTC)\r\n"
             b"Received: from xk100001.devices.example (xk100001.devices.example [10.20.30.41])\r\n"
             b"\tby relay.site.example (Postfix) with ESMTP id 8C1F2A0042\r\n"
             b"\tfor <telemail@gateway.example>; Sat, 01 Jun 2024 13:00:04 +0000 (UTC)\r\n")
    out = (trace + head + b"\r\n" + body).replace(b"\r\n", b"\n")
elif kind == "refold":
    # a relay that re-folds long header fields and adds its own
    h = head.decode()
    h = re.sub(r"Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=smime.p7m",
               "Content-Type: application/pkcs7-mime;\r\n\tsmime-type=authEnveloped-data;\r\n\tname=smime.p7m", h)
    h = re.sub(r"Content-Disposition: attachment; filename=smime.p7m",
               "Content-Disposition: attachment;\r\n  filename=smime.p7m", h)
    h = h.replace("Subject: telemail report", "Subject: telemail\r\n report")
    h = h.replace("To: telemail@gateway.example", "To:\r\n telemail@gateway.example")
    assert h.count("\r\n\t") >= 2, "refold: the header layout changed"
    trace = ("Received: from relay.site.example (relay.site.example [192.0.2.25]) by\r\n"
             " mx.gateway.example (Exim 4.96) with esmtps id 1sDK3a-0004Qe-2F for\r\n"
             " telemail@gateway.example; Sat, 01 Jun 2024 13:10:00 +0000\r\n"
             "X-Spam-Status: No, score=-1.0 required=5.0\r\n\ttests=ALL_TRUSTED autolearn=ham\r\n")
    out = (trace + h).encode() + b"\r\n" + body
elif kind == "tamper":
    # one bit flipped in the ciphertext (past the RecipientInfo, before the tag)
    der = bytearray(base64.b64decode(body))
    der[len(der) * 2 // 3] ^= 0x01
    b64 = base64.b64encode(bytes(der))
    lines = [b64[i:i + 76] for i in range(0, len(b64), 76)]
    out = head + b"\r\n" + b"\r\n".join(lines) + b"\r\n"
elif kind == "noboundary":
    h = re.sub(rb"Content-Type: [^\r]*", b"Content-Type: multipart/mixed", head)
    out = h + b"\r\n" + body
else:
    sys.exit("mutate: unknown kind " + kind)
open(dst, "wb").write(out)
PY
}

# expect NN-name OUTCOME REASON DEVICE REPORT_ID
expect() {
	printf 'outcome: %s\nreason: %s\ndevice: %s\nreport_id: %s\n' "$2" "$3" "$4" "$5" \
		> "$out/$1.expect"
}
rid() { echo "7e1a0000-0000-4000-8000-$(printf %012d "$1")"; }

# fixture NN-name TOOL SIGNER GW MODE [CIPHER]   (report: reports/NN-name.yaml)
fixture() {
	local name=$1 tool=$2 signer=$3 gw=$4 mode=$5 cipher=${6:--aes-256-gcm}
	local rep=$reports/$name.yaml
	local serial
	serial=$(sed -n 's/^  serial: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$rep")
	local from
	from=$(from_of "$serial")
	if [ "$tool" = tm ]; then
		seal_tm "$out/$name.eml" "$rep" "$signer" "$gw" "$mode" "$from"
	else
		seal_ossl "$out/$name.eml" "$rep" "$signer" "$gw" "$mode" "$cipher" "$from" \
			"fixture-${name}@devices.example"
	fi
}

D1=dev-XK100001 D2=dev-XK100002

# good reports: several devices, EC and RSA gateway keys, opaque and detached
fixture 01-ec-opaque tm $D1 gw-ec opaque
expect 01-ec-opaque stored - XK100001 "$(rid 101)"
fixture 02-ec-detached tm $D1 gw-ec detached
expect 02-ec-detached stored - XK100001 "$(rid 102)"
fixture 03-rsa-gw-opaque tm $D2 gw-rsa opaque
expect 03-rsa-gw-opaque stored - XK100002 "$(rid 201)"
fixture 04-rsa-gw-detached tm $D2 gw-rsa detached
expect 04-rsa-gw-detached stored - XK100002 "$(rid 202)"
fixture 05-rsa-signer tm dev-rsa-XK100001 gw-ec detached
expect 05-rsa-signer stored - XK100001 "$(rid 103)"
fixture 06-full-report tm dev-XK100003 gw-ec opaque
expect 06-full-report stored - XK100003 "$(rid 301)"
# through real MTAs
fixture 07-mta-received tm $D1 gw-ec opaque
mutate mta "$out/07-mta-received.eml" "$work/m" && mv "$work/m" "$out/07-mta-received.eml"
expect 07-mta-received stored - XK100001 "$(rid 105)"
fixture 08-mta-refolded tm $D2 gw-ec detached
mutate refold "$out/08-mta-refolded.eml" "$work/m" && mv "$work/m" "$out/08-mta-refolded.eml"
expect 08-mta-refolded stored - XK100002 "$(rid 203)"
# an independent sender: the openssl cms command line
fixture 09-openssl-opaque ossl $D2 gw-ec opaque
expect 09-openssl-opaque stored - XK100002 "$(rid 204)"
fixture 10-openssl-detached-rsa ossl $D1 gw-rsa detached
expect 10-openssl-detached-rsa stored - XK100001 "$(rid 106)"
# late and out of order: seq 104 after seq 106
fixture 11-late-out-of-order tm $D1 gw-ec opaque
expect 11-late-out-of-order stored - XK100001 "$(rid 104)"
fixture 12-collector-bound tm collector gw-ec opaque
expect 12-collector-bound stored - MP-0042 "$(rid 4201)"
# duplicates: the report of 01 sent again (new message), and 02 byte for byte
seal_tm "$out/13-duplicate-resend.eml" "$reports/01-ec-opaque.yaml" $D1 gw-ec detached \
	xk100001@devices.example
expect 13-duplicate-resend duplicate - XK100001 "$(rid 101)"
cp "$out/02-ec-detached.eml" "$out/14-duplicate-copy.eml"
expect 14-duplicate-copy duplicate - XK100001 "$(rid 102)"
# quarantined, one per reason
fixture 15-conflict tm $D1 gw-ec opaque
expect 15-conflict quarantined report.conflict XK100001 "$(rid 1015)"
fixture 16-unknown-device tm dev-XK300001 gw-ec opaque
expect 16-unknown-device quarantined device.unknown XK300001 "$(rid 3001)"
fixture 17-mismatch tm $D1 gw-ec opaque
expect 17-mismatch quarantined device.mismatch XK100002 "$(rid 1017)"
fixture 18-collector-unbound tm collector gw-ec opaque
expect 18-collector-unbound quarantined device.moved XK100002 "$(rid 1018)"
fixture 19-revoked-registry tm dev-XK400001 gw-ec opaque
expect 19-revoked-registry quarantined smime.signer_revoked XK400001 "$(rid 4001)"
fixture 20-revoked-crl ossl dev-revoked gw-ec opaque
expect 20-revoked-crl quarantined smime.signer_revoked - -
fixture 21-untrusted-ca ossl dev-untrusted gw-ec opaque
expect 21-untrusted-ca quarantined smime.untrusted_signer - -
fixture 22-expired-signer ossl dev-expired gw-ec opaque
expect 22-expired-signer quarantined smime.signer_expired - -
fixture 23-signer-no-eku ossl dev-noeku gw-ec opaque
expect 23-signer-no-eku quarantined smime.signer_eku - -
fixture 24-signer-no-digsig ossl dev-nodigsig gw-ec opaque
expect 24-signer-no-digsig quarantined smime.signer_key_usage - -
fixture 25-signer-no-serial ossl dev-noserial gw-ec opaque
expect 25-signer-no-serial quarantined smime.signer_no_serial - -
fixture 26-not-encrypted ossl $D1 gw-ec opaque none
expect 26-not-encrypted quarantined smime.not_encrypted - -
fixture 27-not-signed ossl $D1 gw-ec none
expect 27-not-signed quarantined smime.not_signed - -
fixture 28-tampered tm $D1 gw-ec opaque
mutate tamper "$out/28-tampered.eml" "$work/m" && mv "$work/m" "$out/28-tampered.eml"
expect 28-tampered quarantined smime.tampered - -
cp "$out/01-ec-opaque.eml" "$work/good"
mutate noboundary "$work/good" "$out/29-malformed-mime.eml"
expect 29-malformed-mime quarantined mime.malformed - -
fixture 30-schema-enum ossl $D1 gw-ec opaque
expect 30-schema-enum quarantined report.schema XK100001 -
fixture 31-missing-field ossl $D1 gw-ec detached
expect 31-missing-field quarantined report.missing_field XK100001 -
fixture 32-unknown-field ossl $D1 gw-ec opaque
expect 32-unknown-field quarantined report.unknown_field XK100001 -
fixture 33-wrong-type ossl $D1 gw-rsa opaque
expect 33-wrong-type quarantined report.wrong_type XK100001 -
fixture 34-pii-field ossl $D1 gw-ec opaque
expect 34-pii-field quarantined report.pii_field XK100001 -
fixture 35-future tm $D1 gw-ec opaque
expect 35-future quarantined report.future XK100001 "$(rid 1035)"
fixture 36-wrong-recipient tm $D1 gw-other opaque
expect 36-wrong-recipient quarantined smime.wrong_recipient - -
fixture 37-cbc-not-allowed ossl $D1 gw-ec opaque -aes-256-cbc
expect 37-cbc-not-allowed quarantined smime.cbc_not_allowed - -

echo "make-fixtures: $(ls "$out"/*.eml | wc -l) fixtures, $(du -sk "$out" | cut -f1) KB in $out"
