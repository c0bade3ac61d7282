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

import dkim
import dkim.crypto

from newsletter.config import Config, Dkim
from newsletter.errors import ConfigError

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


class DkimSigner:
    """Signs message bytes for one ``dkim`` configuration."""

    def __init__(self, settings: Dkim, key: bytes, *, path: str | None = None) -> None:
        self.settings = settings
        where = "dkim.key_file" if settings.key_file is not None else f"dkim.key_env ({settings.key_env})"
        try:
            dkim.crypto.parse_pem_private_key(key)
        except Exception as exc:  # dkimpy raises several kinds for a malformed key
            raise ConfigError(f"{where} does not hold a PEM RSA private key ({exc})", path=path, key="dkim") from None
        self.key = key
        self.selector = settings.selector.encode("ascii")
        self.domain = settings.domain.encode("ascii")

    def sign(self, message: bytes) -> bytes:
        """``message`` with a DKIM-Signature header in front."""
        header = dkim.sign(
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
