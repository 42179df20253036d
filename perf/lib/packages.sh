# Sourced by perf scripts: install the Debian packages a script needs, as perf/run.sh does, so that
# each script works on its own on a fresh machine (CI and the README's commands install the rest).

ensure_packages() {  # ensure_packages SCRIPT PACKAGE...: installs the missing ones (root) or exits
    local script="$1"; shift
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || { echo "$script: missing ${missing[*]} (run as root to install them)" >&2; exit 1; }
    echo "$script: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
