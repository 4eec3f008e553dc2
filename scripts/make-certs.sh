#!/usr/bin/env bash
# Makes a throwaway certificate authority and certificates for a local or
# Docker rumor cluster (openssl; EC P-256 keys). Not for production: the
# CA's key sits next to the certificates, unencrypted.
#
#   scripts/make-certs.sh DIR [--nodes N] [--days D] [--test-extras] [--force]
#
# In DIR:
#   ca.pem ca.key             the cluster CA (kvd --peer-ca; clients --tls-ca)
#   node1.pem node1.key ...   a certificate per node, from the cluster CA,
#                             valid for nodeI, localhost and 127.0.0.1, for
#                             serving and calling peers (--peer-cert/-key)
#   admin.pem admin.key       an operator's certificate from the cluster CA:
#                             kvcli --tls-cert with it may call leave/remove
#   client-ca.pem client-ca.key  a CA for application clients (kvd
#                             --tls-client-ca turns mutual TLS on)
#   client.pem client.key     a client certificate from client-ca
# A DIR that already holds a ca.pem is left alone unless --force (new
# certificates would not match the nodes already using the old CA).
# Node certificates name nodeI, localhost and 127.0.0.1: a node's
# certificate must name the host its peers and clients dial.
# With --test-extras, also what the tests need to be refused:
#   expired.pem expired.key   from the cluster CA, expired in 2020
#   other-ca.pem stranger.pem stranger.key  a node certificate from another CA
#
# Example: a 3-node local cluster with TLS between everyone
#   scripts/make-certs.sh data/certs
#   kvd --listen=127.0.0.1:7379 --peer-ca=data/certs/ca.pem \
#       --peer-cert=data/certs/node1.pem --peer-key=data/certs/node1.key ...
#   kvcli --server=127.0.0.1:7379 --tls-ca=data/certs/ca.pem status
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

dir=""
nodes=5
days=365
extras=0
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=${2:?--nodes needs a number}; shift ;;
    --nodes=*) nodes=${1#*=} ;;
    --days) days=${2:?--days needs a number}; shift ;;
    --days=*) days=${1#*=} ;;
    --test-extras) extras=1 ;;
    --force) force=1 ;;
    -h|--help) usage ;;
    -*) echo "make-certs: unknown option '$1'" >&2; usage ;;
    *) [ -z "$dir" ] || { echo "make-certs: one DIR only" >&2; exit 2; }; dir=$1 ;;
  esac
  shift
done
[ -n "$dir" ] || usage
[[ $nodes =~ ^[1-9][0-9]*$ ]] || { echo "make-certs: --nodes must be a positive number" >&2; exit 2; }
[[ $days =~ ^[1-9][0-9]*$ ]] || { echo "make-certs: --days must be a positive number" >&2; exit 2; }
command -v openssl >/dev/null || { echo "make-certs: needs openssl (apt-get install openssl)" >&2; exit 2; }

if [ -e "$dir/ca.pem" ] && [ "$force" = 0 ]; then
  echo "make-certs: $dir already holds a CA (ca.pem); --force replaces it" >&2
  exit 2
fi
umask 077  # keys readable by their owner only, from the start
mkdir -p "$dir"
cd "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# ca NAME CN: a self-signed CA.
ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days "$days" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# leaf NAME CN CA USAGE [SAN]: a certificate from CA.
leaf() {
  local name=$1 cn=$2 ca=$3 usage=$4 san=${5:-}
  key "$name.key"
  openssl req -new -key "$name.key" -out "$tmp/$name.csr" -subj "/CN=$cn" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } >"$tmp/$name.ext"
  openssl x509 -req -in "$tmp/$name.csr" -CA "$ca.pem" -CAkey "$ca.key" \
    -CAcreateserial -out "$name.pem" -days "$days" -extfile "$tmp/$name.ext" 2>/dev/null
}

ca ca "rumor cluster CA"
for i in $(seq 1 "$nodes"); do
  leaf "node$i" "node$i" ca serverAuth,clientAuth "DNS:node$i,DNS:localhost,IP:127.0.0.1"
done
leaf admin admin ca clientAuth
ca client-ca "rumor client CA"
leaf client client client-ca clientAuth

if [ "$extras" = 1 ]; then
  # openssl x509 cannot backdate; openssl ca can, with a throwaway database.
  key expired.key
  openssl req -new -key expired.key -out "$tmp/expired.csr" -subj "/CN=expired" 2>/dev/null
  mkdir -p "$tmp/db"
  : >"$tmp/db/index.txt"
  cat >"$tmp/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $tmp/db/index.txt
new_certs_dir = $tmp/db
serial = $tmp/db/serial
default_md = sha256
policy = p
copy_extensions = none
x509_extensions = e
[p]
commonName = supplied
[e]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
CNF
  echo 01 >"$tmp/db/serial"
  openssl ca -batch -config "$tmp/ca.cnf" -cert ca.pem -keyfile ca.key \
    -in "$tmp/expired.csr" -out expired.pem -notext \
    -startdate 20200101000000Z -enddate 20200102000000Z 2>/dev/null
  ca other-ca "some other CA"
  leaf stranger stranger other-ca serverAuth,clientAuth "DNS:localhost,IP:127.0.0.1"
fi
rm -f ./*.srl
# Certificates are public, keys are not (umask 077 made both private).
chmod 755 .
chmod 644 ./*.pem
echo "make-certs: CA and certificates for $nodes node(s) in $(pwd)" >&2
