#!/bin/sh
# Makes the certificates the TLS tests use, in directory $1, with the
# openssl command-line tool (Debian's openssl). Every key is EC P-256 (fast).
#   ca.pem/ca.key              the test CA
#   server.pem/server.key      localhost, 127.0.0.1 and ::1 (SAN), signed by the CA
#   server2.pem/server2.key    the same names, another key (certificate reload)
#   client.pem/client.key      a client certificate (CN=hl7-test-client), signed by the CA
#   expired.pem/expired.key    localhost, 127.0.0.1, expired (openssl ca -enddate in the past)
#   client_expired.pem/.key    a client certificate that expired
#   other_ca.pem/other_ca.key  another CA
#   foreign.pem/foreign.key    localhost, 127.0.0.1, signed by the other CA
#   foreign_client.pem/.key    a client certificate signed by the other CA
#   wrong_host.pem/.key        wrong.example.org only, signed by the CA
#   intermediate.pem/.key      an intermediate CA signed by the CA
#   chained.pem/chained.key    localhost, 127.0.0.1, signed by the intermediate;
#                              chained.pem holds the leaf, then the intermediate
#   chained_leaf_only.pem/.key the same leaf without the intermediate
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

ca() { # name subject
    key "$1"
    openssl req -x509 -new -key "$1.key" -subj "$2" -days 30 -out "$1.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

intermediate() { # name ca subject
    key "$1"
    openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
    printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 30 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}

leaf() { # name ca subject san extendedKeyUsage
    key "$1"
    openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' "$5" "$4" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 30 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}

expired() { # name ca subject san extendedKeyUsage: valid from 2020-01-01 to 2020-01-31
    key "$1"
    openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
    mkdir -p ca_db
    : > ca_db/index.txt
    [ -f ca_db/serial ] || echo 1000 > ca_db/serial
    cat > "$1.cnf" <<CNF
[ca]
default_ca = test_ca
[test_ca]
database = ca_db/index.txt
serial = ca_db/serial
new_certs_dir = ca_db
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = $5
$4
CNF
    openssl ca -batch -config "$1.cnf" -cert "$2.pem" -keyfile "$2.key" -in "$1.csr" -out "$1.pem" \
        -startdate 20200101000000Z -enddate 20200131000000Z -extensions ext -notext 2>/dev/null
}

server_san='subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'
ca ca "/CN=hl7 test CA"
ca other_ca "/CN=hl7 other test CA"
leaf server ca "/CN=localhost" "$server_san" serverAuth
leaf server2 ca "/CN=localhost" "$server_san" serverAuth
leaf client ca "/CN=hl7-test-client" "subjectAltName=DNS:hl7-test-client" clientAuth
leaf foreign other_ca "/CN=localhost" "$server_san" serverAuth
leaf foreign_client other_ca "/CN=hl7-foreign-client" "subjectAltName=DNS:hl7-foreign-client" clientAuth
leaf wrong_host ca "/CN=wrong.example.org" "subjectAltName=DNS:wrong.example.org" serverAuth
expired expired ca "/CN=localhost" "$server_san" serverAuth
expired client_expired ca "/CN=hl7-expired-client" "subjectAltName=DNS:hl7-expired-client" clientAuth
intermediate intermediate ca "/CN=hl7 test intermediate CA"
leaf chained intermediate "/CN=localhost" "$server_san" serverAuth
cp chained.pem chained_leaf_only.pem
cp chained.key chained_leaf_only.key
cat intermediate.pem >> chained.pem
echo ok > done
