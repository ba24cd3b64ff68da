#!/usr/bin/env bash
# Packs what bench/device/run.sh needs on a GPU machine where nothing can be installed:
#   .device/deno.xz   the local deno binary, xz-compressed (~30 MB)
#   .device/train.js  `deno bundle` of bench/train_throughput.ts (tfjs and the kit in one file)
#   .device/dawn.node.xz  Dawn (npm "webgpu" 0.6.2, linux-x64), for the wgpu-vs-Dawn step
#   .gl/*.deb         Debian's Vulkan loader (libvulkan1), unpacked there when the image lacks one
# Both folders are git-ignored; copy them along with the working tree to the GPU machine. Run from
# anywhere; prints the sizes (the whole carry stays under 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .device .gl
deno bundle --platform deno bench/train_throughput.ts -o .device/train.js
xz -T2 -6 -c "$(command -v deno)" >.device/deno.xz.tmp && mv .device/deno.xz.tmp .device/deno.xz
if [ ! -s .device/dawn.node.xz ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack -q webgpu@0.6.2 >/dev/null && tar xzf webgpu-0.6.2.tgz package/dist/linux-x64/dawn.node)
  xz -T2 -6 -c "$tmp/package/dist/linux-x64/dawn.node" >.device/dawn.node.xz
  rm -rf "$tmp"
fi
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial
  # shellcheck disable=SC2086
  apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1)
fi
du -sh .device .gl
du -ch .device .gl | tail -1
