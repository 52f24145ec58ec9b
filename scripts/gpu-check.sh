#!/usr/bin/env bash
# The prepared device check, for an accelerator host: adapter listing, bench:gpu (compute-heavy and its
# float16 variant), CPU-vs-GPU equality on the acceptance models, the same job on webgpu:0 and on the CPU,
# and one bound process per GPU when there are several. One JSON line per check (scripts/gpu/check.ts).
# Needs only node (no npm): on the lent machine, after `bash ../shared/gpu/pack.sh` here,
#   bash .gpu/enter.sh bash scripts/gpu-check.sh          (carry .gpu and the generated .cache/models)
# Exit status: 0 every check passed, 1 one failed, 2 no GPU adapter opened.
set -uo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx scripts/gpu/check.ts "$@"
