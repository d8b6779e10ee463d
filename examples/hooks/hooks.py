#!/usr/bin/env python3
"""usersvc script hook in Python (USERSVC_HOOKS=examples/hooks/hooks.py).

Called as `hooks.py <hook-or-event-name>` with the JSON payload on stdin.
Exit 0 allows (a JSON object on stdout may return {"metadata": ...} or extra
claims), exit 1 rejects with the first line of stdout as the message, any
other exit (or a timeout) fails closed.
"""
import json
import sys

CLOSED_DOMAINS = {"spam.example", "mailinator.com"}


def main() -> int:
    name = sys.argv[1]
    payload = json.load(sys.stdin)

    if name == "beforeRegister":
        domain = payload["email"].rsplit("@", 1)[-1]
        if domain in CLOSED_DOMAINS:
            print(f"Sign-ups from {domain} are closed")
            return 1
        print(json.dumps({"metadata": {"tenant": "default", **payload["metadata"]}}))
    elif name == "accessTokenClaims":
        print(json.dumps({"tenant": payload["user"]["metadata"].get("tenant", "default")}))
    elif name == "user.verification_requested":
        user, token = payload["data"]["user"], payload["data"]["token"]
        # Send the email with your mailer; this example writes it to stderr.
        print(f"verify {user['email']}: https://app.example/verify?token={token}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
