#!/usr/bin/env bash
# Run on the accelerator machine from the project's root: bash .gpu/enter.sh <command…>
# (`npm run gpu:pack` puts it in .gpu/). Unpacks node and the native node_modules, installs the Vulkan/GL
# loaders (so ONNX Runtime's bundled WebGPU provider finds the NVIDIA driver) and redis-server, then runs
# the command with that node first on PATH. ../shared/gpu/enter.sh with one change: a driver ICD found
# nowhere, or a `find` that stops at an unreadable directory, no longer ends the script before the command.
set -euo pipefail
g=$(cd "$(dirname "$0")" && pwd)
for f in "$g"/debs/*.deb; do dpkg -x "$f" /; done; ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] || icd=$(find / -name 'nvidia_icd*.json' -not -path '/proc/*' 2>/dev/null | head -1 || true)
[ -z "$icd" ] || export VK_DRIVER_FILES="$icd"
mkdir -p /tmp/gpu-node/bin
xz -dc "$g/node.xz" > /tmp/gpu-node/bin/node && chmod +x /tmp/gpu-node/bin/node
[ -d node_modules ] || tar xJf "$g/node_modules.tar.xz"
export PATH=/tmp/gpu-node/bin:$PATH
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
exec "$@"
