#!/usr/bin/env bash
# Every C source and header the project tracks is as clang-format
# (.clang-format) lays it out; run by scripts/run-tests.sh. Prints the first
# differences and exits 1 otherwise. `clang-format -i FILE` fixes a file.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || {
	echo "check-format: clang-format not found (scripts/install-deps.sh installs it)" >&2
	exit 1
}
mapfile -t files < <(git ls-files '*.c' '*.h')
if ! out=$(clang-format --dry-run --Werror "${files[@]}" 2>&1); then
	printf '%s\n' "$out" | head -n 30
	echo "check-format: $(printf '%s\n' "$out" | grep -cE '^[^ ]+: error:') line(s) not formatted, in:" \
		"$(printf '%s\n' "$out" | grep -oE '^[^ :]+\.[ch]' | sort -u | xargs)"
	exit 1
fi
echo "check-format: ${#files[@]} files formatted"
