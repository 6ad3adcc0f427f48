#!/usr/bin/env python3
"""Checks a BulkExport signature without BulkExport: Python's standard library plus the openssl CLI.

  verify_signature.py STORE_ROOT REGISTER PUBLIC_KEY.pem [GENERATION]

Without GENERATION it checks the catalog ({REG}/catalog.json against
{REG}/signatures/catalog-{sha256}.jws); with it, the manifest {REG}/generations/{gen:D10}.json
against its .jws. The signature is a detached JWS (RFC 7515 Appendix F) with ES256: the signing
input is BASE64URL(header) "." BASE64URL(payload bytes), and the signature is r||s (32 bytes each),
which openssl wants as a DER SEQUENCE of two INTEGERs. Exit 0 when valid, 1 otherwise.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def der_integer(value):
    value = value.lstrip(b"\0") or b"\0"
    if value[0] & 0x80:
        value = b"\0" + value
    return b"\x02" + bytes([len(value)]) + value


def main(root, register, public_key, generation=None):
    if generation is None:
        payload = open(os.path.join(root, register, "catalog.json"), "rb").read()
        jws_path = os.path.join(root, register, "signatures", "catalog-%s.jws" % hashlib.sha256(payload).hexdigest())
    else:
        manifest = os.path.join(root, register, "generations", "%010d.json" % int(generation))
        payload = open(manifest, "rb").read()
        jws_path = manifest + ".jws"
    header, empty, signature = open(jws_path).read().strip().split(".")
    if empty or json.loads(b64url_decode(header)).get("alg") != "ES256":
        print("%s: not a detached ES256 JWS" % jws_path)
        return 1
    raw = b64url_decode(signature)
    body = der_integer(raw[:32]) + der_integer(raw[32:])
    with tempfile.TemporaryDirectory() as tmp:
        signing_input = os.path.join(tmp, "input")
        der = os.path.join(tmp, "sig.der")
        with open(signing_input, "wb") as f:
            f.write(("%s.%s" % (header, b64url(payload))).encode("ascii"))
        with open(der, "wb") as f:
            f.write(b"\x30" + bytes([len(body)]) + body)
        result = subprocess.run(["openssl", "dgst", "-sha256", "-verify", public_key, "-signature", der, signing_input],
                                capture_output=True, text=True)
    print("%s: %s" % (jws_path, result.stdout.strip() or result.stderr.strip()))
    return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
