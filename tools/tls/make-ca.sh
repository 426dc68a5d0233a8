#!/usr/bin/env bash
# Makes a throw-away certificate authority and the certificates the TLS tests use, in DIR:
#   ca.pem ca.key                 the test CA
#   server.pem server.key         CN localhost, SAN DNS:localhost and IP:127.0.0.1, signed by the CA
#   client.pem client.key         CN imi-client (user "imi-client" for servers that map a
#                                 client certificate to a user), signed by the CA
#   other-ca.pem other-ca.key     a second CA that signed nothing here: the "wrong CA"
# Keys are 2048-bit RSA, certificates valid for 2 days. Idempotent: an existing DIR/ca.pem
# is kept. Needs openssl.
#   tools/tls/make-ca.sh DIR
set -euo pipefail
dir=${1:?usage: tools/tls/make-ca.sh DIR}
mkdir -p "$dir"
cd "$dir"
[ -f ca.pem ] && [ -f server.pem ] && [ -f client.pem ] && [ -f other-ca.pem ] && exit 0

ossl() { openssl "$@" 2>/dev/null; }
new_ca() { # NAME CN
    ossl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 2 \
        -subj "/CN=$2" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign
}
new_leaf() { # NAME CN EXTFILE
    ossl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
    ossl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" \
        -days 2 -extfile "$3"
    rm -f "$1.csr"
}

new_ca ca "imi test CA"
new_ca other-ca "imi other CA"
printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    'extendedKeyUsage=serverAuth,clientAuth' 'keyUsage=digitalSignature,keyEncipherment' >server.ext
printf '%s\n' 'extendedKeyUsage=clientAuth' 'keyUsage=digitalSignature,keyEncipherment' >client.ext
new_leaf server localhost server.ext
new_leaf client imi-client client.ext
rm -f server.ext client.ext ca.srl
# Servers started as other users (postgres, mysql, nobody) read these.
chmod 644 ./*.pem
chmod 644 ./*.key
