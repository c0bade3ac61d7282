"""DKIM signing of every outgoing message (SPEC 5), with dkimpy.

With ``dkim: {domain, selector, key_env | key_file}`` set, the final bytes of each
message are signed once, when the delivery is rendered, before it is recorded
``pending``: the ledger stores the signed bytes, so a message re-sent after a
crash carries the very same signature and Message-ID.

The signature is ``rsa-sha256`` with ``relaxed/relaxed`` canonicalisation (a
relay that re-folds a header or re-wraps trailing whitespace does not break it)
and ``h=`` covers From, To, Subject, Date, Message-ID, List-Unsubscribe and
List-Unsubscribe-Post (RFC 8058 requires the last two to be signed; a stock
OpenDKIM relay leaves List-Unsubscribe-Post out), plus Reply-To, List-Id,
MIME-Version and Content-Type. Headers named in ``h=`` that a message lacks are
signed as absent, so nobody can add them later without breaking the signature.

The private key is a PEM RSA key (PKCS#1 or PKCS#8) from the environment
variable ``key_env`` or the file ``key_file`` (outside the configuration file);
it never lives in the YAML. dkimpy is the maintained Python DKIM implementation
(it is what ``dkimpy-milter`` and several MTAs' filters run) and verifies as well,
which the tests use.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

from newsletter.base.errors import ConfigError
from newsletter.config import Config, Dkim

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

SIGNED_HEADERS: tuple[bytes, ...] = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"Reply-To",
    b"List-Id",
    b"MIME-Version",
    b"Content-Type",
)


# dkimpy computes the RSA signature in pure Python (two 1024-bit ``pow`` for a 2048-bit
# key: ~20 ms of the ~30 ms a message costs). RSASSA-PKCS1-v1_5 is deterministic, so
# OpenSSL (through `cryptography`) gives the very same bytes in ~1 ms: dkimpy's module
# function is replaced by one that does that for SHA-256/SHA-1 and hands anything else
# back to dkimpy's own code. tests/test_render_dkim.py checks both give identical signatures.
# dkimpy and cryptography are imported on first use (:func:`_dkimpy`): dkimpy loads a DNS
# resolver at import, which a command that signs nothing (``check``, ``--version``) need not pay.
_openssl_keys: dict[int, rsa.RSAPrivateKey] = {}


def _dkimpy() -> ModuleType:
    """dkimpy, with its RSA step (the name ``dkim.DKIM.gen_header`` calls) done by OpenSSL."""
    import dkim

    if dkim.RSASSA_PKCS1_v1_5_sign is not rsa_sign:
        dkim.RSASSA_PKCS1_v1_5_sign = rsa_sign
    module: ModuleType = dkim
    return module


def _pure_rsa_sign(digest: Any, private_key: dict[str, int]) -> bytes:
    """dkimpy's own pure-Python RSA step (the reference :func:`rsa_sign` is held to)."""
    import dkim.crypto

    return bytes(dkim.crypto.RSASSA_PKCS1_v1_5_sign(digest, private_key))


def rsa_sign(digest: Any, private_key: dict[str, int]) -> bytes:
    """dkimpy's ``RSASSA_PKCS1_v1_5_sign(hash, private_key)``, computed by OpenSSL."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

    algorithm = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}.get(str(getattr(digest, "name", "")).lower())
    if algorithm is None:
        return _pure_rsa_sign(digest, private_key)
    n = private_key["modulus"]
    key = _openssl_keys.get(n)
    if key is None:
        key = rsa.RSAPrivateNumbers(
            p=private_key["prime1"],
            q=private_key["prime2"],
            d=private_key["privateExponent"],
            dmp1=private_key["exponent1"],
            dmq1=private_key["exponent2"],
            iqmp=private_key["coefficient"],
            public_numbers=rsa.RSAPublicNumbers(private_key["publicExponent"], n),
        ).private_key()
        _openssl_keys[n] = key
    return key.sign(digest.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm()))


class DkimSigner:
    """Signs message bytes for one ``dkim`` configuration."""

    def __init__(self, settings: Dkim, key: bytes, *, path: str | None = None) -> None:
        self.settings = settings
        where = "dkim.key_file" if settings.key_file is not None else f"dkim.key_env ({settings.key_env})"
        _dkimpy()
        import dkim.crypto

        try:
            dkim.crypto.parse_pem_private_key(key)
        except Exception as exc:  # dkimpy raises several kinds for a malformed key
            raise ConfigError(f"{where} does not hold a PEM RSA private key ({exc})", path=path, key="dkim") from None
        self.key = key
        self.selector = settings.selector.encode("ascii")
        self.domain = settings.domain.encode("ascii")

    def sign(self, message: bytes) -> bytes:
        """``message`` with a DKIM-Signature header in front."""
        header = _dkimpy().sign(
            message,
            self.selector,
            self.domain,
            self.key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
            linesep=b"\r\n",
        )
        return bytes(header) + message


_cache: dict[int, tuple[Config, DkimSigner | None]] = {}
_lock = threading.Lock()


def signer_for(config: Config) -> DkimSigner | None:
    """The signer of ``config`` (None without ``dkim``), made once per configuration
    object (the key is parsed once per pass, in each render worker)."""
    if config.dkim is None:
        return None
    with _lock:
        hit = _cache.get(id(config))
        if hit is not None and hit[0] is config:
            return hit[1]
        key = config.dkim.private_key()
        if key is None:
            raise ConfigError(
                f"dkim: the environment variable {config.dkim.key_env} (dkim.key_env) holding the private key is "
                "unset or empty (or set dkim.key_file)",
                path=str(config.path),
                key="dkim.key_env",
            )
        signer = DkimSigner(config.dkim, key, path=str(config.path))
        _cache.clear()  # one configuration at a time: a reload replaces it
        _cache[id(config)] = (config, signer)
        return signer
