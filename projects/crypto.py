"""Encryption of target credentials at rest (Fernet, key from the environment)."""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@cache
def _fernet() -> Fernet:
    key = settings.ENCRYPTION_KEY
    if not key:
        digest = hashlib.sha256(
            ("plumbline-credentials:" + settings.SECRET_KEY).encode()
        )
        key = base64.urlsafe_b64encode(digest.digest()).decode()
    return Fernet(key)


def encrypt(plaintext: str) -> str:
    """Return ``plaintext`` encrypted for storage; empty stays empty."""
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """Return the stored secret in clear; raise ValueError if the key changed."""
    if not ciphertext:
        return ""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ValueError(
            "stored credentials cannot be decrypted: PLUMBLINE_ENCRYPTION_KEY changed"
        ) from exc
