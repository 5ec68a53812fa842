#!/usr/bin/env bash
# Start anvil for the chain fixture on a free 127.0.0.1 port; prints RPC_URL=… and ANVIL_PID=…
# and runs in the foreground (see tests/chain/anvil.mjs for options: --lifetime, --keep).
exec node "$(dirname "$0")/anvil.mjs" "$@"
