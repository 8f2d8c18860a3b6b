#!/usr/bin/env bash
# engram beside faiss-cpu, numpy and scikit-learn, in one command:
#
#     bench/peers/run.sh [--quick] [peers.py options: --threads N, --out DIR, --seed S]
#
# Creates bench/peers/.venv (gitignored), installs requirements.txt, builds the engram wheel
# from python/ with maturin and installs it, then runs bench/peers/peers.py, which writes
# bench/results/peers.{md,json} (peers-quick-smoke.{md,json} with --quick).
# ENGRAM_BUILD_LOCK=FILE serialises the wheel build with other builds (flock FILE maturin ...).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
python_bin="${PYTHON_BIN:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "== venv: $venv" >&2
  "$python_bin" -m venv "$venv"
fi
echo "== pip install -r bench/peers/requirements.txt" >&2
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q -r "$here/requirements.txt"

echo "== maturin build --release -m python/Cargo.toml" >&2
rm -rf "$venv/dist"
lock=()
if [ -n "${ENGRAM_BUILD_LOCK:-}" ]; then lock=(flock "$ENGRAM_BUILD_LOCK"); fi
(cd "$root" && "${lock[@]}" "$venv/bin/maturin" build --release -m python/Cargo.toml -o "$venv/dist")
"$venv/bin/pip" install -q --force-reinstall --no-deps "$venv"/dist/engram_dual-*.whl

echo "== bench/peers/peers.py $*" >&2
cd "$root"
exec "$venv/bin/python" "$here/peers.py" "$@"
