#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: every benchmark COUNT times (default 6) with
# -benchmem, then the end-to-end load run, all into results/raw.txt; then
# cmd/report renders the report and the chart from that file alone.
# Loopback only; takes about twelve minutes on two cores. Run it on a quiet
# machine.
set -euo pipefail
cd "$(dirname "$0")"
count=${COUNT:-6}
mkdir -p results
raw=results/raw.txt
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "go: $(go version)"
  echo "kernel: $(uname -sr)"
  echo "cpus: $(nproc)"
  echo "count: $count"
  go list -m all | grep -E 'tokengate/tokengate |auth0/go-jwt-middleware|labstack/echo-jwt|labstack/echo/v4 |gin-gonic/gin |dgraph-io/ristretto|go-jose/go-jose/v4 ' | sed 's/^/module: /'
  go test -run '^$' -bench . -benchmem -count "$count" .
  go run ./cmd/load -rounds 6 -duration 3s
  # CPU profiles of a hit and a miss, to explain what they cost.
  # Each element of the -bench pattern is anchored, as go test splits it
  # at slashes: ^BenchmarkHit alone matches BenchmarkHitParallel too.
  # Hit/nethttp/tokengate becomes ^BenchmarkHit$/^nethttp$/^tokengate$.
  for b in Hit/nethttp/tokengate Miss/tokengate; do
    pattern="^Benchmark${b//\//\$/^}\$"
    go test -run '^$' -bench "$pattern" -benchtime 3s -cpuprofile results/cpu.prof -o results/bench.test . >/dev/null
    echo "profile: $b"
    go tool pprof -top -cum -nodecount 45 results/bench.test results/cpu.prof 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/profile: /'
  done
  rm -f results/cpu.prof results/bench.test
} | tee "$raw"
go run ./cmd/report -in "$raw" -out BENCHMARKS.md -chart overhead.svg
echo "wrote bench/BENCHMARKS.md and bench/overhead.svg"
