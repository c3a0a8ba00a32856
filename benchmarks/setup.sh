#!/bin/sh
# Set-up for the benchmarks on a fresh Debian/Ubuntu machine, from anywhere:
#   sh benchmarks/setup.sh
# convoy with its test extras (editable), the profiler, and GNU Parallel (the baseline).
set -e
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m pip install -e '.[test]' -r benchmarks/requirements.txt
if ! command -v parallel >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update
    $SUDO apt-get install -y parallel
fi
parallel --version | head -n 1
