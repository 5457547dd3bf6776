#!/usr/bin/env bash
# Certificates for the TLS distribution tests, made with the openssl CLI:
#
#   make_test_certs.sh DIR HOST
#
# DIR/ca.pem           the CA both sides trust
# DIR/server.{pem,key} the daemon's certificate (DNS SAN HOST)
# DIR/client.{pem,key} a good client (DNS SAN HOST: the clients run here)
# DIR/wrongname.*      signed by the CA, names another host
# DIR/expired.*        signed by the CA, expired yesterday
# DIR/otherca.*        names HOST, signed by a CA nobody trusts
# DIR/server2.{pem,key} a second server certificate (reload tests)
# Short-lived P-256 keys: quick to make, nothing worth keeping.
set -euo pipefail
command -v openssl >/dev/null || { echo "make_test_certs: no openssl command (scripts/install-deps build)" >&2; exit 1; }
dir="$1" host="$2"
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
ca() {
  key "$1"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 30 -subj "/CN=$1 test CA" 2>/dev/null
}
# leaf NAME CA SAN DAYS
leaf() {
  key "$1"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=%s\n' "$3" >"$1.ext"
  local validity=(-days "$4")
  if (($4 < 0)) && openssl x509 -help 2>&1 | grep -q -- -not_after; then
    # OpenSSL 3.4+ (Debian 13) refuses negative -days: give the dates.
    validity=(-not_before "$(date -u -d "$((1 - $4)) days ago" +%Y%m%d%H%M%SZ)"
              -not_after "$(date -u -d "$((0 - $4)) days ago" +%Y%m%d%H%M%SZ)")
  fi
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" \
    "${validity[@]}" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca
ca rogue
leaf server ca "DNS:$host" 30
leaf server2 ca "DNS:$host" 30
leaf client ca "DNS:$host" 30
leaf wrongname ca "DNS:elsewhere.invalid" 30
leaf expired ca "DNS:$host" -1
leaf otherca rogue "DNS:$host" 30
