#!/usr/bin/env bash
# Make a demo PKI for telemail with the openssl command line.
#
#   make-demo-pki.sh OUTDIR [DEVICE_SERIAL ...]
#
# OUTDIR gets (PEM files; *.key are private keys, mode 0600):
#   ca.pem ca.key                 site CA (EC P-256), signs everything below
#   gw-ec.pem gw-ec.key           gateway certificate, EC P-256 (ECDH key agreement)
#   gw-rsa.pem gw-rsa.key         gateway certificate, RSA 3072 (RSA-OAEP key transport)
#   gw-tls.pem gw-tls.key         the gateway listener's STARTTLS certificate
#                                 (serverAuth; localhost, 127.0.0.1, ::1)
#   dev-<SERIAL>.pem/.key         one device certificate per serial (EC P-256), with
#                                 subject serialNumber=<SERIAL>, EKU emailProtection
#   dev-rsa-<SERIAL>.pem/.key     an RSA device certificate for the first serial
#   collector.pem collector.key   a collector (agent host watching many devices),
#                                 subject serialNumber=COLLECTOR-01
#   ca/                           the CA's database (openssl ca), for revocation
# Default serials: XK100001 XK100002 XK100003.
#
# Environment (optional):
#   TM_PKI_DAYS   validity of the issued certificates in days (default 825);
#                 the CA gets at least 3650, or TM_PKI_DAYS when that is longer
#   TM_CRL_DAYS   days until the CRL's nextUpdate (default 30)
# Committed test fixtures (test/eml/pki) use ~36500 for both, so they stay valid.
#
# This is a demo: in production the site CA key lives offline and device keys
# are made on the device. Never commit the keys this script makes.
set -euo pipefail

out=${1:?usage: make-demo-pki.sh OUTDIR [DEVICE_SERIAL ...]}
shift
serials=("$@")
[ ${#serials[@]} -gt 0 ] || serials=(XK100001 XK100002 XK100003)

pki_days=${TM_PKI_DAYS:-825}
crl_days=${TM_CRL_DAYS:-30}
case $pki_days$crl_days in *[!0-9]*) echo "make-demo-pki: TM_PKI_DAYS and TM_CRL_DAYS are whole days" >&2; exit 2 ;; esac
ca_days=$(( pki_days > 3650 ? pki_days : 3650 ))

umask 077
mkdir -p "$out/ca/newcerts"
cd "$out"
: > ca/index.txt
[ -f ca/serial ] || echo 1000 > ca/serial
[ -f ca/crlnumber ] || echo 01 > ca/crlnumber

cat > ca/ca.cnf <<CNF
[ ca ]
default_ca = tm_ca
[ tm_ca ]
dir = ./ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = ./ca.pem
private_key = ./ca.key
default_md = sha256
default_days = $pki_days
default_crl_days = $crl_days
policy = tm_policy
unique_subject = no
copy_extensions = none
email_in_dn = no
[ tm_policy ]
commonName = supplied
serialNumber = optional
organizationName = optional
organizationalUnitName = optional
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ ext_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ ext_device ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_gateway_ec ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = email:telemail@gateway.example
[ ext_gateway_tls ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[ ext_gateway_rsa ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = email:telemail@gateway.example
CNF

ossl() { openssl "$@" 2>/dev/null || { echo "make-demo-pki: openssl $1 failed" >&2; openssl "$@"; }; }

if [ ! -f ca.pem ]; then
	ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
	ossl req -new -x509 -config ca/ca.cnf -extensions ext_ca -key ca.key -days "$ca_days" \
		-subj "/O=telemail demo/CN=telemail demo site CA" -out ca.pem
fi

# issue NAME SUBJECT EXTENSION KEYTYPE [openssl ca options...]
issue() {
	local name=$1 subj=$2 ext=$3 keytype=$4
	shift 4
	case $keytype in
	ec) ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key" ;;
	rsa) ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$name.key" ;;
	esac
	ossl req -new -config ca/ca.cnf -key "$name.key" -subj "$subj" -out "$name.csr"
	ossl ca -batch -config ca/ca.cnf -extensions "$ext" -notext -in "$name.csr" -out "$name.pem" "$@"
	rm -f "$name.csr"
}

issue gw-ec "/O=telemail demo/CN=telemail gateway (EC)" ext_gateway_ec ec
issue gw-rsa "/O=telemail demo/CN=telemail gateway (RSA)" ext_gateway_rsa rsa
issue gw-tls "/O=telemail demo/CN=localhost" ext_gateway_tls ec
for s in "${serials[@]}"; do
	issue "dev-$s" "/O=telemail demo/CN=device $s/serialNumber=$s" ext_device ec
done
issue "dev-rsa-${serials[0]}" "/O=telemail demo/CN=device ${serials[0]} (RSA)/serialNumber=${serials[0]}" ext_device rsa
issue collector "/O=telemail demo/CN=telemail collector/serialNumber=COLLECTOR-01" ext_device ec
ossl ca -batch -config ca/ca.cnf -gencrl -out crl.pem
chmod 0644 ./*.pem
echo "make-demo-pki: made $(ls ./*.pem | wc -l) certificates in $out"
