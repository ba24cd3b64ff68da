#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then registers the project-local
# Deno Jupyter kernelspec. Idempotent and quick when everything is already there (one dpkg-query).
#
#   bash tools/ensure_test_deps.sh            # `deno task test` runs this first
#   DENO_BIN=/path/to/deno bash tools/ensure_test_deps.sh
#
# Installs (apt, as root or through passwordless sudo; `apt-get update` once, only when a package
# is missing): jupyter-nbconvert jupyter-client python3-nbclient jupyter-notebook python3-ipykernel
# chromium slurm-wlm munge (tests/slurm_test.ts runs a one-node Slurm cluster on localhost as root)
# libopenblas0-pthread and libdnnl2 (the native GEMMs and convolutions of the wasm backend,
# lib/kernels/native/; `libopenblas.so.0`, `libdnnl.so.2`). Never installs torch: the tests do not need it. Installs deno@2.9.6 globally
# through npm when no `deno` is on PATH, so every later command of the README finds one.
#
# Kernelspec: tools/jupyter/kernels/deno/kernel.json (git-ignored: it holds this machine's deno
# path). Point Jupyter at it with JUPYTER_PATH=<repo>/tools/jupyter; tools/run_notebook.py does.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGES=(jupyter-nbconvert jupyter-client python3-nbclient jupyter-notebook python3-ipykernel chromium
  slurm-wlm munge libopenblas0-pthread libdnnl2)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
  echo "ensure_test_deps: installing ${missing[*]}" >&2
  if [[ "$(id -u)" == 0 ]]; then
    SUDO=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "ensure_test_deps: missing Debian packages (${missing[*]}) and not root; run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q)
  "${APT[@]}" update
  "${APT[@]}" install -y --no-install-recommends "${missing[@]}"
fi

# A `deno` on PATH for every later command (the README's npx form leaves none): install the pinned
# version globally through npm when there is none. The kernelspec then points at a stable path,
# not into npx's cache.
DENO_VERSION=2.9.6
if ! command -v deno >/dev/null; then
  echo "ensure_test_deps: no deno on PATH; installing deno@$DENO_VERSION globally through npm" >&2
  if [[ "$(id -u)" == 0 ]]; then
    npm install -g --no-fund --no-audit "deno@$DENO_VERSION" >&2
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n npm install -g --no-fund --no-audit "deno@$DENO_VERSION" >&2
  else
    echo "ensure_test_deps: not root; run: npm install -g deno@$DENO_VERSION" >&2
  fi
fi
DENO="${DENO_BIN:-}"
if command -v deno >/dev/null; then DENO="$(command -v deno)"; fi
if [[ -z "$DENO" || ! -x "$DENO" ]]; then
  echo "ensure_test_deps: no deno binary found (set DENO_BIN or put deno on PATH)" >&2
  exit 1
fi
DENO="$(readlink -f "$DENO")"

KDIR="$ROOT/tools/jupyter/kernels/deno"
mkdir -p "$KDIR"
spec="$(printf '{\n  "argv": ["%s", "jupyter", "--kernel", "--conn", "{connection_file}"],\n  "display_name": "Deno (CYBORG kit)",\n  "language": "typescript",\n  "env": {"NO_COLOR": "1"}\n}\n' "$DENO")"
if [[ ! -f "$KDIR/kernel.json" || "$(cat "$KDIR/kernel.json")" != "$spec" ]]; then
  tmp="$(mktemp "$KDIR/.kernel.json.XXXXXX")"
  printf '%s\n' "$spec" >"$tmp"
  mv -f "$tmp" "$KDIR/kernel.json"
  echo "ensure_test_deps: wrote $KDIR/kernel.json (deno: $DENO)" >&2
fi
