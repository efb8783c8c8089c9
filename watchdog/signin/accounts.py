"""Which sign-in an account's config asks for: a password from the keyring, or OAuth2 tokens.

Apart from :mod:`credentials` and :mod:`oauth` so that neither imports the other both ways:
this chooser needs both, and :mod:`oauth` (slow to import: msal, google-auth) only when asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchdog.signin.credentials import (
    OAuthSignIn,
    PasswordLookup,
    Role,
    SignIn,
    lookup_password,
    password_signin,
)

if TYPE_CHECKING:
    from pathlib import Path

    from watchdog.config import OAuthSettings


def account_signin(
    role: Role,
    username: str,
    auth: str,
    oauth: OAuthSettings | None,
    *,
    ca_file: Path | None = None,
    passwords: PasswordLookup = lookup_password,
) -> SignIn:
    """The sign-in an account's config asks for: password, or OAuth2 (``auth = "oauth2"``).

    ``ca_file`` is the account's private CA, trusted for its sign-in service too.
    """
    if auth == "oauth2" and oauth is not None:
        from watchdog.signin.oauth import (
            OAuthTokens,  # late: msal and google-auth are slow to import
        )

        tokens = OAuthTokens(role, username, oauth, ca_file=ca_file)
        return OAuthSignIn(username, tokens.access_token)
    return password_signin(role, username, passwords)
