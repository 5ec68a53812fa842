#!/usr/bin/env bash
# Checks every room's #include lines against the arrows of docs/architecture.md: which rooms a
# room may use, and which system headers only one room may include. Run by every build (the
# check_rooms target); prints each violation and exits 1 when there is one.
set -euo pipefail
cd "$(dirname "$0")/.."

# room: the rooms its files may include (besides its own)
declare -A uses=(
  [util]=""
  [risk]=""
  [chain]="risk util"
  [db]="chain risk util"
  [state]="db chain risk util"
  [views]="state risk util"
  [partner]="db views risk util"
  [handlers]="service views state partner db chain risk util"
  [service]="handlers state partner views db chain risk util"
  [cli]="service handlers partner views state db chain risk util"
)
# system header: the rooms that may include it
declare -A only=(
  [libpq-fe.h]="db"
  [microhttpd.h]="service cli"
  [curl/curl.h]="partner chain"
  [secp256k1.h]="partner"
  [secp256k1_recovery.h]="partner"
)
# Of service/, handlers see only the request API; only service/router.c names the handlers.
handler_may_see="service/request.h service/errors.h service/router.h service/server.h service/body.h service/heavy.h"

bad=0
fail() { echo "check-rooms: $1" >&2; bad=1; }
for room in "${!uses[@]}"; do
  [ -d "$room" ] || continue
  for f in "$room"/*.c "$room"/*.h; do
    [ -e "$f" ] || continue
    while IFS= read -r line; do
      inc=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/' <<<"$line")
      if [[ $line == *'"'* ]]; then
        other=${inc%%/*}
        [ "$other" = "$room" ] && continue
        if [[ " ${uses[$room]} " != *" $other "* ]]; then
          fail "$f includes $inc: $room may not use $other"
        elif [ "$room" = handlers ] && [ "$other" = service ] && [[ " $handler_may_see " != *" $inc "* ]]; then
          fail "$f includes $inc: handlers see only the request API of service/"
        elif [ "$room" = service ] && [ "$other" = handlers ] && [ "$f" != service/router.c ]; then
          fail "$f includes $inc: only service/router.c knows the handlers"
        fi
      else
        allowed=${only[$inc]:-}
        if [ -n "$allowed" ] && [[ " $allowed " != *" $room "* ]]; then
          fail "$f includes <$inc>: only $allowed may"
        fi
      fi
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include' "$f" || true)
  done
done
exit $bad
