#!/usr/bin/env bash
# Generates the throw-away PKI the TLS tests use, into OUTDIR (created if needed).
#
#   scripts/gen-test-certs.sh OUTDIR
#
# Only the `openssl` CLI (OpenSSL 3.0+), no network, EC P-256 keys; takes well under a second.
# Idempotent: a complete set (marker file `.complete` with this script's format version) is left
# alone; an incomplete or older set is regenerated from scratch. All leaf certificates carry
# EKU serverAuth+clientAuth so any of them can play either role in a test.
#
# Files (NAME.pem = certificate, NAME.key = private key):
#   ca                 test CA ("outrigger test CA")
#   wrong-ca           a second, unrelated CA
#   server             DNS:a.shop.svc.cluster.local, DNS:localhost, IP:127.0.0.1   (signed by ca)
#   server2            same names, new key: the "rotated" server certificate        (signed by ca)
#   client-web         DNS:web.shop.svc.cluster.local                              (signed by ca)
#   client-batch       URI:spiffe://shop.example/ns/shop/sa/batch                  (signed by ca)
#   wrong-ca-leaf      DNS:web.shop.svc.cluster.local, DNS:a.shop.svc.cluster.local, DNS:localhost,
#                      IP:127.0.0.1                                          (signed by wrong-ca)
#   expired            same names as wrong-ca-leaf, valid 2020-01-01..2020-01-02 (signed by ca)
#   wildcard           DNS:*.apps.local                                            (signed by ca)
#   garbage.pem        not PEM at all (for error-path tests)
# The canary mesh's pods (tests/netns/multipod.sh, signed by ca):
#   mesh-client        DNS:client.my-app.svc.cluster.local
#   mesh-v1            DNS:my-interview-service-v1.my-app.svc.cluster.local
#   mesh-v2            DNS:my-interview-service-v2.my-app.svc.cluster.local
set -euo pipefail

format_version=2
out=${1:?usage: gen-test-certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"

if [[ -f .complete && "$(cat .complete)" == "$format_version" ]]; then
    exit 0
fi
rm -f ./*.pem ./*.key ./*.csr ./*.cnf ./*.srl .complete
rm -rf ca-db

cat > openssl.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF

new_key_and_csr() {  # name subject
    openssl req -new -config openssl.cnf -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
}

make_ca() {  # name cn
    openssl req -x509 -new -config openssl.cnf -extensions v3_ca -newkey ec \
        -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.pem" \
        -days 3650 -subj "/CN=$2" 2>/dev/null
}

leaf_ext() {  # name san-list
    cat > "$1.cnf" <<EOF
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $2
EOF
}

make_leaf() {  # name cn san-list [ca]
    local ca=${4:-ca}
    new_key_and_csr "$1" "/CN=$2"
    leaf_ext "$1" "$3"
    openssl x509 -req -in "$1.csr" -CA "$ca.pem" -CAkey "$ca.key" -set_serial "0x$(openssl rand -hex 8)" \
        -days 3650 -extfile "$1.cnf" -extensions v3_leaf -out "$1.pem" 2>/dev/null
}

make_ca ca "outrigger test CA"
make_ca wrong-ca "outrigger wrong CA"

server_sans="DNS:a.shop.svc.cluster.local, DNS:localhost, IP:127.0.0.1"
make_leaf server a.shop.svc.cluster.local "$server_sans"
make_leaf server2 a.shop.svc.cluster.local "$server_sans"
make_leaf client-web web.shop.svc.cluster.local "DNS:web.shop.svc.cluster.local"
make_leaf client-batch batch "URI:spiffe://shop.example/ns/shop/sa/batch"
make_leaf wildcard "*.apps.local" "DNS:*.apps.local"
both_sans="DNS:web.shop.svc.cluster.local, DNS:a.shop.svc.cluster.local, DNS:localhost, IP:127.0.0.1"
make_leaf wrong-ca-leaf web.shop.svc.cluster.local "$both_sans" wrong-ca
make_leaf mesh-client client.my-app.svc.cluster.local "DNS:client.my-app.svc.cluster.local"
for v in v1 v2; do
    make_leaf "mesh-$v" "my-interview-service-$v.my-app.svc.cluster.local" \
        "DNS:my-interview-service-$v.my-app.svc.cluster.local"
done

# Expired: OpenSSL 3.0's `x509 -req` cannot set a start date in the past (-not_before is 3.4+),
# so sign it with `openssl ca` and explicit dates.
mkdir -p ca-db/new
: > ca-db/index.txt
openssl rand -hex 8 > ca-db/serial
cat > ca.cnf <<'EOF'
[ca]
default_ca = test_ca
[test_ca]
dir = ca-db
database = $dir/index.txt
new_certs_dir = $dir/new
serial = $dir/serial
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
EOF
new_key_and_csr expired "/CN=web.shop.svc.cluster.local"
leaf_ext expired "$both_sans"
openssl ca -batch -config ca.cnf -notext -startdate 20200101000000Z -enddate 20200102000000Z \
    -extfile expired.cnf -extensions v3_leaf -in expired.csr -out expired.pem 2>/dev/null

echo "this is not a PEM file" > garbage.pem
rm -f ./*.csr
echo "$format_version" > .complete
