#!/usr/bin/env bash
# usersvc script hook (USERSVC_HOOKS=examples/hooks/hooks.sh).
# Called as: hooks.sh <hook-or-event-name>, with the JSON payload on stdin.
# Exit 0 allows (a JSON object on stdout may return {metadata} or extra claims),
# exit 1 rejects with stdout's first line as the message, anything else fails closed.
# Needs jq.
set -euo pipefail
payload=$(cat)

case "$1" in
  beforeRegister)
    email=$(jq -r .email <<<"$payload")
    if [[ "$email" == *@spam.example ]]; then
      echo "Sign-ups from spam.example are closed"
      exit 1
    fi
    jq -c '{metadata: ({tenant: "default"} + .metadata)}' <<<"$payload"
    ;;
  accessTokenClaims)
    jq -c '{tenant: (.user.metadata.tenant // "default")}' <<<"$payload"
    ;;
  user.verification_requested)
    # Send the email with your mailer; here: append the link to a file.
    jq -r '"verify \(.data.user.email): https://app.example/verify?token=\(.data.token)"' <<<"$payload" >>"${VERIFY_OUTBOX:-/tmp/usersvc-verify.txt}"
    ;;
  *)
    # Other hooks and events: allow / acknowledge.
    ;;
esac
exit 0
