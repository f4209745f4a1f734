#!/usr/bin/env bash
# Test PKI: the demo PKI plus deliberately bad certificates, made at build time.
#   make-test-pki.sh PKIDIR STAMP SRCROOT
# Adds to PKIDIR:
#   other-ca.pem/.key             an unrelated CA (not trusted by the tests)
#   dev-untrusted.pem/.key        device XK900001 signed by other-ca
#   dev-expired.pem/.key          device XK900002, valid 2020-01-01 .. 2021-01-01
#   dev-noeku.pem/.key            device XK900003 with EKU serverAuth only
#   dev-nodigsig.pem/.key         device XK900004 with keyUsage keyEncipherment only
#   dev-noserial.pem/.key         device without a subject serialNumber
#   dev-revoked.pem/.key          device XK900005, revoked; crl.pem lists it
#   gw-other.pem/.key             a gateway key that is not the configured one
#   fwd-wrongname.pem/.key        a TLS server certificate for other.example only
#   fwd-expired.pem/.key          a TLS server certificate for localhost and
#                                 127.0.0.1, valid 2020-01-01 .. 2021-01-01
set -euo pipefail
# Made as of 60 days ago (faketime), with a CRL good for ten years: a test
# may sign a message days or weeks back (a device that was offline) and the
# chain must be valid then. TM_PKI_NOW=keep (make-fixtures.sh) keeps the
# caller's clock.
if [ "${TM_PKI_NOW:-}" != keep ]; then
	command -v faketime >/dev/null || { echo "make-test-pki: faketime is needed" >&2; exit 2; }
	TM_PKI_NOW=keep TM_CRL_DAYS=${TM_CRL_DAYS:-3650} TM_PKI_MADE_AT=$(date +%s) \
		exec faketime -f -60d bash "$0" "$@"
fi
pki=$(realpath -m "$1") stamp=$(realpath -m "$2") src=$(realpath "$3")
mkdir -p "$pki"
rm -rf "$pki/ca" "$pki"/*.pem "$pki"/*.key "$pki"/*.srl
bash "$src/examples/pki/make-demo-pki.sh" "$pki" XK100001 XK100002 XK100003 >/dev/null
cd "$pki"
ossl() { openssl "$@" 2>/dev/null || { echo "make-test-pki: openssl $1 failed" >&2; openssl "$@"; }; }
cat >> ca/ca.cnf <<'CNF'
[ ext_noeku ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
[ ext_nodigsig ]
basicConstraints = critical, CA:false
keyUsage = critical, keyEncipherment
extendedKeyUsage = emailProtection
CNF
issue() {
	local name=$1 subj=$2 ext=$3
	shift 3
	ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key"
	ossl req -new -config ca/ca.cnf -key "$name.key" -subj "$subj" -out "$name.csr"
	ossl ca -batch -config ca/ca.cnf -extensions "$ext" -notext -in "$name.csr" -out "$name.pem" "$@"
	rm -f "$name.csr"
}
issue dev-expired "/CN=device XK900002/serialNumber=XK900002" ext_device \
	-startdate 20200101000000Z -enddate 20210101000000Z
issue dev-noeku "/CN=device XK900003/serialNumber=XK900003" ext_noeku
issue dev-nodigsig "/CN=device XK900004/serialNumber=XK900004" ext_nodigsig
issue dev-noserial "/CN=device without serial" ext_device
issue dev-revoked "/CN=device XK900005/serialNumber=XK900005" ext_device
ossl ca -batch -config ca/ca.cnf -revoke dev-revoked.pem
ossl ca -batch -config ca/ca.cnf -gencrl -out crl.pem
issue gw-other "/CN=some other gateway" ext_gateway_ec

# An unrelated CA and a device under it.
mkdir -p other && cd other
ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ../other-ca.key
ossl req -new -x509 -config ../ca/ca.cnf -extensions ext_ca -key ../other-ca.key -days 3650 \
	-subj "/CN=untrusted CA" -out ../other-ca.pem
ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ../dev-untrusted.key
ossl req -new -config ../ca/ca.cnf -key ../dev-untrusted.key -subj "/CN=device XK900001/serialNumber=XK900001" -out u.csr
ossl x509 -req -in u.csr -CA ../other-ca.pem -CAkey ../other-ca.key -CAcreateserial -days 365 \
	-extfile ../ca/ca.cnf -extensions ext_device -out ../dev-untrusted.pem
cd .. && rm -rf other
# Server certificates a forwarding receiver may show (test_forward_cli.c):
# one for another host name, one expired; both from the trusted CA.
cat >> ca/ca.cnf <<'CNF'
[ ext_tls_wrongname ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example
CNF
issue fwd-wrongname "/CN=other.example" ext_tls_wrongname
issue fwd-expired "/CN=localhost" ext_gateway_tls -startdate 20200101000000Z -enddate 20210101000000Z

chmod 0644 ./*.pem
# the stamp at the real time: under faketime it would be 60 days old, older
# than the scripts, and ninja would make the PKI again at every build
touch -d "@${TM_PKI_MADE_AT:-$(date +%s)}" "$stamp"
