#!/bin/sh
# Starts Deno's Jupyter kernel for this repository's kernelspec, with no need for `deno` on the
# PATH: $DENO if set, else the repo's pinned copy (.tools, made by .ci/run or
# `npm install --prefix .tools deno@2.9.6`), else `deno` on the PATH, else npx's deno@2.9.6.
# Jupyter passes the connection file as $1.
root="$(cd "$(dirname "$0")/../../.." && pwd)"
if [ -n "${DENO:-}" ] && [ -x "$DENO" ]; then
  exec "$DENO" jupyter --kernel --conn "$1"
elif [ -x "$root/.tools/node_modules/.bin/deno" ]; then
  exec "$root/.tools/node_modules/.bin/deno" jupyter --kernel --conn "$1"
elif command -v deno >/dev/null 2>&1; then
  exec deno jupyter --kernel --conn "$1"
else
  exec npx --yes deno@2.9.6 jupyter --kernel --conn "$1"
fi
