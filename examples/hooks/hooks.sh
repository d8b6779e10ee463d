#!/usr/bin/env bash
# usersvc script hook (USERSVC_HOOKS=examples/hooks/hooks.sh).
# Called as: hooks.sh <hook-or-event-name>, with the JSON payload on stdin.
# Exit 0 allows (a JSON object on stdout may return {metadata} or extra claims),
# exit 1 rejects with stdout's first line as the message, anything else fails closed.
# Needs jq. usersvc gives it PATH, HOME, LANG, TZ and LC_* only: name anything
# else it reads (VERIFY_OUTBOX, TMPDIR) in USERSVC_HOOK_ENV.
set -euo pipefail
umask 077 # whatever this script creates, only its own user can read
payload=$(cat)

case "$1" in
  beforeRegister)
    email=$(jq -r .email <<<"$payload")
    if [[ "$email" == *@spam.example ]]; then
      echo "Sign-ups from spam.example are closed"
      exit 1
    fi
    # app_metadata: users cannot change it (metadata is theirs to edit).
    jq -c '{app_metadata: {tenant: "default"}}' <<<"$payload"
    ;;
  accessTokenClaims)
    jq -c '{tenant: (.user.app_metadata.tenant // "default")}' <<<"$payload"
    ;;
  user.verification_requested)
    # Send the email with your mailer; here: append the link to a file. The
    # token in it verifies the address, so the file is for this user's eyes only.
    outbox=${VERIFY_OUTBOX:-}
    if [[ -z "$outbox" ]]; then
      private="${TMPDIR:-/tmp}/usersvc-hooks-$(id -u)"
      mkdir -p "$private"
      # A directory (or a link) someone else put there is not private: fail closed.
      if [[ -L "$private" || ! -O "$private" ]]; then
        echo "$private is not this user's own directory" >&2
        exit 2
      fi
      chmod 700 "$private"
      outbox="$private/verify.txt"
    fi
    touch "$outbox"
    chmod 600 "$outbox"
    jq -r '"verify \(.data.user.email): https://app.example/verify?token=\(.data.token)"' <<<"$payload" >>"$outbox"
    ;;
  *)
    # Other hooks and events: allow / acknowledge.
    ;;
esac
exit 0
