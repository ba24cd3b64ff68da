#!/usr/bin/env bash
# One-shot GPU measurement for a GPU machine where nothing can be installed.
# Prepare on a machine with the repository and Deno: `bash bench/device/prepare.sh`; copy the
# working tree with .device/ and .gl/ to the GPU machine and run `bash bench/device/run.sh` there.
# Everything it measures is printed and written under $OUT (log.txt, train.csv): copy the numbers
# into bench/results/ and bench/README.md. Steps run in order of importance, each under its own
# timeout, and a step is skipped when the overall budget (BUDGET_S, default 540 s) would not cover
# it, so a slow GPU still returns the first answers. Order: 1, 2, 3, 7, 4, 5, 6 (bench/README.md
# lists them in that order).
#   1 adapter   WebGPU adapter info and limits (is it the GPU, not llvmpipe?)
#   2 kit       ResNet50 224 px batch 32, kit kernels, GPU tuning: the >= 150 img/s target
#   3 stock     ResNet50 224 px batch 16, tfjs's stock kernels, 1 step: where stock's ~67 s goes
#               (per-step lines split enqueue time into WebGPU call groups, then the GPU wait)
#   4 torch     the same CYBORG step in PyTorch on the same GPU (fp32 and TF32)
#   5 tuning    kit variants at 224 px batch 32 (no split-K, K tile, GEMM forward for all sizes,
#               GEMM input gradient, larger submit batches) against step 2
#   6 small     ResNet50 64 px batch 4 --compare-stock (the llvmpipe benchmark's shape)
#   7 dawn      step 2's kit run on Dawn (Chrome's WebGPU engine, npm "webgpu") instead of Deno's
#               wgpu: is the WebGPU implementation the bottleneck?
# DEVICE_SMALL=1 runs the same script with minicnn at 32 px (a check of the script itself on a
# CPU-only machine).
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
LOG="$OUT/log.txt"
CSV="$OUT/train.csv"
BUDGET_S=${BUDGET_S:-540}
if ! [[ $BUDGET_S =~ ^[0-9]+$ ]]; then
  echo "BUDGET_S: expected whole seconds, got '$BUDGET_S'" >&2
  exit 2
fi
export NO_COLOR=1
exec > >(tee -a "$LOG") 2>&1

say() { printf '\n=== %s (t=%ss)\n' "$*" "$SECONDS"; }
# step <cap seconds> <label> <command...>: runs under min(cap, what is left of the budget).
step() {
  local cap=$1 label=$2
  shift 2
  local left=$((BUDGET_S - SECONDS))
  local t=$((cap < left ? cap : left))
  if ((t < 20)); then
    say "SKIPPED $label (budget left ${left}s)"
    return
  fi
  say "$label (timeout ${t}s)"
  timeout --kill-after=5 "$t" "$@"
  local rc=$?
  ((rc == 124)) && echo "TIMED OUT after ${t}s: $label"
  ((rc != 0 && rc != 124)) && echo "exit $rc: $label"
}

say "machine"
nvidia-smi --query-gpu=name,driver_version,memory.used,clocks.sm --format=csv 2>/dev/null ||
  echo "no nvidia-smi"
nproc
if ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  echo "unpacked the carried Vulkan loader"
fi
if [ ! -e /usr/share/vulkan/icd.d/nvidia_icd.json ] &&
  [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  echo "VK_DRIVER_FILES=$VK_DRIVER_FILES"
fi

# unxz <src.xz> <dst>: with xz if the image has it, else Python's lzma; once per machine.
unxz() {
  [ -s "$2" ] && return
  if command -v xz >/dev/null; then
    xz -dc "$1" >"$2"
  else
    python3 -c "import lzma,shutil,sys;shutil.copyfileobj(lzma.open(sys.argv[1]),open(sys.argv[2],'wb'))" "$1" "$2"
  fi
}

DENO=/tmp/deno-device
unxz .device/deno.xz "$DENO"
chmod +x "$DENO"
"$DENO" --version | head -1
B=("$DENO" run -A .device/train.js --csv "$CSV")

NET=resnet50 SIZE=224 BIG=32 MID=16 SMALL=64
if [ "${DEVICE_SMALL:-}" = 1 ]; then NET=minicnn SIZE=32 BIG=8 MID=4 SMALL=16; fi

step 30 "1 adapter" "$DENO" eval '
  const a = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!a) { console.log("NO WEBGPU ADAPTER"); Deno.exit(1); }
  const l = a.limits;
  const i = a.info;
  console.log(JSON.stringify({ vendor: i.vendor, architecture: i.architecture, device: i.device,
    description: i.description, fallback: i.isFallbackAdapter ?? a.isFallbackAdapter,
    features: [...a.features], maxInvocations: l.maxComputeInvocationsPerWorkgroup,
    maxWorkgroupStorage: l.maxComputeWorkgroupStorageSize, maxStorageBinding: l.maxStorageBufferBindingSize,
    maxBuffer: l.maxBufferSize }));'

step 150 "2 kit $NET ${SIZE}px batch $BIG" "${B[@]}" --backbone "$NET" --size "$SIZE" --batch "$BIG" \
  --steps 3 --warmup 2
step 150 "3 stock $NET ${SIZE}px batch $MID" env CYBORG_STOCK_KERNELS=1 "${B[@]}" --backbone "$NET" \
  --size "$SIZE" --batch "$MID" --steps 1 --warmup 1 --no-profile
if [ -s .device/dawn.node.xz ]; then
  unxz .device/dawn.node.xz /tmp/dawn.node
  step 90 "7 dawn kit $NET ${SIZE}px batch $BIG" env CYBORG_DAWN_NODE=/tmp/dawn.node "${B[@]}" \
    --backbone "$NET" --size "$SIZE" --batch "$BIG" --steps 3 --warmup 2 --no-profile
fi
if [ "${DEVICE_SMALL:-}" != 1 ]; then
  step 45 "4 torch reference" python3 bench/device/torch_reference.py --size "$SIZE" --batch "$BIG"
fi
for v in CYBORG_KIT_SPLITK=off CYBORG_KIT_TK=32 CYBORG_KIT_CONV2D_MAX_M=all CYBORG_KIT_DX_MIN_M=0 \
  CYBORG_KIT_COALESCE=off CYBORG_KIT_TK=4; do
  step 45 "5 tuning $v" env "$v" "${B[@]}" --backbone "$NET" --size "$SIZE" --batch "$BIG" \
    --steps 3 --warmup 1 --no-profile
done
step 45 "5 tuning precompile (parallel shader compilation first)" "${B[@]}" --backbone "$NET" \
  --size "$SIZE" --batch "$BIG" --steps 3 --warmup 1 --no-profile --precompile
step 45 "5 tuning submit batch 200" "${B[@]}" --backbone "$NET" --size "$SIZE" --batch "$BIG" \
  --steps 3 --warmup 1 --no-profile --flag WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=200
step 90 "6 small ${NET} 64px batch 4 vs stock" "${B[@]}" --backbone "$NET" --size "$SMALL" \
  --batch 4 --steps 3 --warmup 2 --compare-stock
say "done"
