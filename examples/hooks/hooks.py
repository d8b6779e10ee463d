#!/usr/bin/env python3
"""usersvc script hook in Python (USERSVC_HOOKS=examples/hooks/hooks.py).

Called as `hooks.py <hook-or-event-name>` with the JSON payload on stdin.
Exit 0 allows (a JSON object on stdout may return {"metadata": ...} or extra
claims), exit 1 rejects with the first line of stdout as the message, any
other exit (or a timeout) fails closed.
"""
import json
import os
import smtplib
import sys
from email.message import EmailMessage

CLOSED_DOMAINS = {"spam.example", "mailinator.com"}


def main() -> int:
    name = sys.argv[1]
    payload = json.load(sys.stdin)

    if name == "beforeRegister":
        domain = payload["email"].rsplit("@", 1)[-1]
        if domain in CLOSED_DOMAINS:
            print(f"Sign-ups from {domain} are closed")
            return 1
        # app_metadata: users cannot change it (metadata is theirs to edit).
        print(json.dumps({"app_metadata": {"tenant": "default"}}))
    elif name == "accessTokenClaims":
        print(json.dumps({"tenant": payload["user"]["app_metadata"].get("tenant", "default")}))
    elif name == "user.verification_requested":
        send_verification(payload["data"]["user"]["email"], payload["data"]["token"])
    return 0


def send_verification(to: str, token: str) -> None:
    """Sends the verification email through SMTP_HOST:SMTP_PORT (default localhost:1025)."""
    message = EmailMessage()
    message["From"] = os.environ.get("MAIL_FROM", "accounts@app.example")
    message["To"] = to
    message["Subject"] = "Confirm your email address"
    link = f"{os.environ.get('APP_URL', 'https://app.example')}/verify?token={token}"
    message.set_content(f"Welcome! Confirm your address by opening:\n\n{link}\n\nThe link works once, for 24 hours.\n")
    host = os.environ.get("SMTP_HOST", "localhost")
    port = int(os.environ.get("SMTP_PORT", "1025"))
    # An exception here exits non-zero: usersvc retries the event with backoff.
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        smtp.send_message(message)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # a crash must fail closed (exit 2), not read as a rejection (exit 1)
        import traceback

        traceback.print_exc()
        sys.exit(2)
