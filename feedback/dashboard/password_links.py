"""Signed links that let someone set a password: a reset link an admin sends, and the
invitation a new user gets instead of a password shown in the admin's browser.

A link is single-use without any table: it carries a fingerprint of the password hash it
was made for, and setting a password changes that hash, so the link stops working."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import itsdangerous

RESET_SALT = "feedback.password-reset"
INVITE_SALT = "feedback.invitation"
RESET_MAX_AGE = 24 * 3600
INVITE_MAX_AGE = 7 * 24 * 3600
PURPOSES = {"reset": (RESET_SALT, RESET_MAX_AGE), "invite": (INVITE_SALT, INVITE_MAX_AGE)}


class BadLink(Exception):
    """The link is forged, expired, already used or for another purpose."""


@dataclass(frozen=True)
class LinkClaim:
    user_id: int
    purpose: str


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:24]


def make_token(secret: str, purpose: str, user_id: int, password_hash: str) -> str:
    salt, _ = PURPOSES[purpose]
    signer = itsdangerous.URLSafeTimedSerializer(secret, salt=salt)
    return signer.dumps([user_id, fingerprint(password_hash)])


def read_token(secret: str, purpose: str, token: str) -> tuple[int, str]:
    """(user id, password-hash fingerprint) from a token, or BadLink."""
    salt, max_age = PURPOSES[purpose]
    signer = itsdangerous.URLSafeTimedSerializer(secret, salt=salt)
    try:
        user_id, print_ = signer.loads(token, max_age=max_age)
    except (itsdangerous.BadData, ValueError, TypeError):
        raise BadLink() from None
    if not isinstance(user_id, int) or not isinstance(print_, str):
        raise BadLink()
    return user_id, print_


def still_valid(print_: str, password_hash: str) -> bool:
    """False once the password was set through this link (or any other way)."""
    import hmac

    return hmac.compare_digest(print_, fingerprint(password_hash))
