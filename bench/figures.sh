#!/usr/bin/env bash
# Every figure of the README's "Measured figures", on one machine, in one run:
#
#     bench/figures.sh [OUT]          (default OUT: bench/results/<date>-<cpu>)
#
# Run it on a quiet machine (nothing else building or running): it takes about 25 minutes on
# 2 cores, half of it the peers step. Each step writes its raw output into OUT (criterion's text, the JSON of the CLI,
# the peers' table); `bench/figures_summary.py OUT` then reads those files — and nothing else —
# into OUT/summary.md and OUT/summary.json, the table the README quotes. Every ratio in it is
# to a limit (read bandwidth, FMA peak) or a peer (faiss, numpy, scikit-learn) measured in the
# same run. GPU rows are correctness-only unless a real adapter is present.
#
# ENGRAM_FIGURES_SKIP="peers python stream" skips steps (for a partial re-run); the summary
# says which files were missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

family="$(awk -F': ' '/^cpu family/{print $2; exit}' /proc/cpuinfo)"
model="$(awk -F': ' '/^model\t/{print $2; exit}' /proc/cpuinfo)"
vendor="$(awk -F': ' '/^vendor_id/{print $2; exit}' /proc/cpuinfo)"
out="${1:-bench/results/$(date -u +%F)-${vendor,,}-${family}-${model}}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
skip=" ${ENGRAM_FIGURES_SKIP:-} "
want() { [[ "$skip" != *" $1 "* ]]; }
step() { echo "== $(date -u +%T) $*" >&2; }

{
  echo "date_utc: $(date -u '+%F %T')"
  echo "git: $(git rev-parse --short HEAD)$([ -z "$(git status --porcelain --untracked-files=no)" ] || echo ' (uncommitted changes)')"
  echo "cpu: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
  echo "vendor: $vendor; family: $family; model: $model"
  echo "flags: $(grep -m1 -o -w -E 'avx512f|avx512_vnni|avx512_bf16|avx512fp16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "cores: $(nproc)"
  echo "memory: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "l3: $(lscpu 2>/dev/null | awk -F': *' '/L3 cache/{print $2}')"
  echo "kernel: $(uname -r)"
  echo "rustc: $(rustc --version)"
  echo "load_at_start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"

export CARGO_TERM_COLOR=never
cargo build --release --bins --examples --benches -q

if want cli; then
  step "engram bench --out $out/cli (search, batches, ingest, k-means, warm cycle, limits)"
  ./target/release/engram --backend cpu bench --out "$out/cli" > "$out/cli-bench.log"
fi
if want search; then
  step "cargo bench --bench search"
  cargo bench --bench search -- --noplot > "$out/criterion-search.txt"
fi
if want kmeans; then
  step "cargo bench --bench kmeans (N = 200,000)"
  ENGRAM_BENCH_N=200000 cargo bench --bench kmeans -- --noplot > "$out/criterion-kmeans.txt"
fi
if want consolidation; then
  for k in 1000 64; do
    step "cargo bench --bench consolidation (k = $k)"
    ENGRAM_BENCH_K=$k cargo bench --bench consolidation -- --noplot > "$out/criterion-consolidation-k$k.txt"
  done
fi
if want recall; then
  step "cargo bench --bench recall"
  cargo bench --bench recall -- --noplot > "$out/criterion-recall.txt"
fi
if want concepts; then
  step "examples/concepts_full (200,000 rows, 1,000 clusters)"
  cargo run --release -q --example concepts_full > "$out/concepts-full.txt"
fi
if want digits; then
  step "digits, k-means k = 10, 10 seeds"
  cargo test --release -q --test cluster_digits -- --nocapture > "$out/digits.txt" 2>&1
fi
if want stream; then
  step "engram stream --n 10000000 --precision f16"
  ./target/release/engram --seed 7 stream --n 10000000 --dim 384 --clusters 100 \
    --precision f16 --json > "$out/stream-10m-f16.json"
fi
if want validate; then
  step "engram validate --json (the memory-research experiments)"
  ./target/release/engram --backend cpu --json validate > "$out/validate.json"
fi
if want peers; then
  step "bench/peers/run.sh (faiss, numpy, scikit-learn beside engram)"
  bench/peers/run.sh --out "$out" > "$out/peers.log" 2>&1
fi
if want python; then
  step "python/bench/bench.py (the Python layer and Ray)"
  venv="$root/bench/peers/.venv"
  if [ ! -x "$venv/bin/python" ]; then
    echo "the peers step builds the venv and the wheel: run it first" >&2
    exit 1
  fi
  "$venv/bin/pip" install -q "ray==2.60.0"
  RAY_AUTH_MODE=disabled "$venv/bin/python" python/bench/bench.py --out "$out" > "$out/python-bench.log" 2>&1
fi

echo "load_at_end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
step "summary"
python3 bench/figures_summary.py "$out"
echo "$out"
