#!/usr/bin/env bash
# The prepared device check, for an accelerator host: adapter listing, bench:gpu (compute-heavy and its
# float16 variant), CPU-vs-GPU equality on the acceptance models, the same job on webgpu:0 and on the CPU,
# and one bound process per GPU when there are several. One JSON line per check (scripts/gpu/check.ts).
# Needs only node (no npm). On the lent machine, after `npm run gpu:pack` here, one call carrying [".gpu"]:
#   bash .gpu/enter.sh bash scripts/gpu-check.sh
# Without tsx (there) the check runs from the pack's bundle, and the models come out of the pack.
# Exit status: 0 every check passed, 1 one failed, 2 no GPU adapter opened.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -d node_modules/tsx ]; then exec node --import tsx scripts/gpu/check.ts "$@"; fi
if [ -f .gpu/models.tar.xz ]; then
  mkdir -p .cache && tar xJf .gpu/models.tar.xz -C .cache --skip-old-files || exit 1
fi
if [ -f .gpu/app.tar.xz ]; then tar xJf .gpu/app.tar.xz -C .gpu || exit 1; fi
exec node .gpu/app/check.js "$@"
