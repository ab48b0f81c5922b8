#!/bin/sh
# Runs COMMAND with DIR mounted as an empty tmpfs of SIZE bytes (such as
# 96k), in a private user and mount namespace: a full disk without root and
# without filling a real one. The mount ends with the command.
#
# Usage: in_small_tmpfs.sh DIR SIZE COMMAND...
# Exits with status 77, which the CTest case treats as a skip, when the
# kernel refuses the namespace or the mount.
set -eu
dir=$1
size=$2
shift 2
mkdir -p "$dir"
if ! unshare -rm true 2>/dev/null; then
    echo "in_small_tmpfs.sh: the kernel refused a user and mount namespace (unshare -rm), so no tmpfs can be mounted; skipped" >&2
    exit 77
fi
exec unshare -rm sh -c 'mount -t tmpfs -o size="$1" tmpfs "$2" || exit 77; shift 2; exec "$@"' sh "$size" "$dir" "$@"
