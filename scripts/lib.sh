# Shared helpers of the scripts in this folder; sourced, not run.

# Exits with a message unless $1 can be used as a CMake build directory:
# either it does not exist yet and its parent is writable, or it is a
# writable directory.
check_build_dir() {
    local dir=$1 script=$2
    if [[ -e "$dir" && ! -d "$dir" ]]; then
        echo "$script: build directory '$dir' exists but is not a directory; pass another path" >&2
        exit 2
    fi
    local probe=$dir
    [[ -d "$probe" ]] || probe=$(dirname "$dir")
    if [[ ! -d "$probe" || ! -w "$probe" ]]; then
        echo "$script: cannot write to '$probe'; pass a writable build directory" >&2
        exit 2
    fi
}
