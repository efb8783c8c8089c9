"""A "browser" for Google's installed-app flow in a subprocess test: ``fake_browser.py CA URL``.

Fetches the sign-in page, which the local authority answers with a redirect to the product's
loopback listener, and follows it: what a person clicking "Allow" does. TLS is verified against
the test CA. Used through ``BROWSER`` (see :func:`tests.support.oauth_servers.browser_command`).
"""

from __future__ import annotations

import sys

import requests


def main(ca_file: str, url: str) -> int:
    session = requests.Session()
    session.trust_env = False
    session.get(url, verify=ca_file, timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
