#!/usr/bin/env bash
# The GPU run in one go (docs/gpu.md). First, on a machine with a package registry:
#     bash benchmarks/gpu.sh --download-wheels wheels   # the wheels a GPU machine lacks
# then on the CUDA machine, with wheels/ beside the tree (no registry needed):
#     bash benchmarks/gpu.sh                            # figures under $OUT, else out/gpu
# A CPU rehearsal of every stage at small sizes: bash benchmarks/gpu.sh --rehearse-on-cpu
set -euo pipefail
cd "$(dirname "$0")/.."
case " $* " in
    *" --download-wheels "*) exec "${PYTHON:-python3}" benchmarks/gpu.py "$@" ;;
esac
exec "${PYTHON:-python3}" benchmarks/gpu.py --wheels wheels "$@"
