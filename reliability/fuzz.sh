#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME (default 5m) each, one after the
# other, with one worker, and stops at the first crasher; go test keeps its
# input under the package's testdata/fuzz, where CI replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5m}
# Every func Fuzz of the repository, listed in RELIABILITY.md; keep both
# in step with grep -rn "func Fuzz" --include=*_test.go.
targets=(
  "./middleware FuzzChallenge"
  "./middleware FuzzExtractHeader"
  "./middleware FuzzExtractParams"
  "./middleware FuzzParamNames"
  "./middleware FuzzExtractCookie"
  "./middleware FuzzB64tokenPrefix"
  "./scopes FuzzParse"
  "./scopes FuzzGlobMatch"
  "./introspect/geosecure FuzzParseVerify"
  "./introspect/geosecure FuzzParseProfile"
  "./introspect/rfc7662 FuzzParseIntrospection"
  "./introspect/jwt FuzzLooksLikeJWT"
  "./introspect/jwt FuzzShapeHeader"
  "./introspect/jwt FuzzParseClaims"
  "./introspect/jwt FuzzVerify"
  "./introspect FuzzWire"
  "./internal/upstream FuzzJSONString"
)
for t in "${targets[@]}"; do
  set -- $t
  echo "=== $2 ($1), $fuzztime"
  go test "$1" -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" -parallel 1 2>&1 | tail -3
done
