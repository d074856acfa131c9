# Sourced by scripts/run and scripts/test: makes sure uv exists and the locked environment is installed.
# Works on a fresh Debian machine with only Python 3.11: uv comes from PyPI through pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export UV_PYTHON_DOWNLOADS=never  # use the machine's Python 3.11, never download one
export PATH="$HOME/.local/bin:$PATH"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_install() {  # apt_install <command-to-check> <debian packages...>
    local probe=$1; shift
    command -v "$probe" >/dev/null 2>&1 && return 0
    echo "installing $* (Debian)" >&2
    # One apt at a time: .ci/run checks the compose file while bench/run installs wrk and node, and a second
    # apt-get fails at once on dpkg's lock ("Could not get lock"). The lock file is shared with bench/run.
    (
        flock 9
        command -v "$probe" >/dev/null 2>&1 && exit 0
        as_root apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    ) 9>"${TMPDIR:-/tmp}/gateway-apt.lock"
}

if ! command -v uv >/dev/null 2>&1; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        apt_install pip3 python3-pip
    fi
    python3 -m pip install --quiet --user --break-system-packages uv==0.13.9 2>/dev/null \
        || python3 -m pip install --quiet --user uv==0.13.9
fi
