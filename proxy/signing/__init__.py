"""Signed forwarding: the proxy's keys, identity assertions and RFC 9421 signatures.

``keys`` loads/generates the signing keys and publishes the JWKS, ``assertion``
mints the ``Edgeward-Assertion`` JWT, ``httpsig`` signs each forwarded request.
The backend side of the same wire contract is ``proxy.verify``.
"""

from proxy.signing.assertion import AssertionMinter
from proxy.signing.httpsig import RequestSigner, SigningError, content_digest
from proxy.signing.keys import (
    KeyFileError,
    KeySet,
    SigningKey,
    generate_key,
    keys_generate,
    load_key_file,
    write_key,
)

__all__ = [
    "AssertionMinter",
    "KeyFileError",
    "KeySet",
    "RequestSigner",
    "SigningError",
    "SigningKey",
    "content_digest",
    "generate_key",
    "keys_generate",
    "load_key_file",
    "write_key",
]
