#!/usr/bin/env bash
# Every Rust source file in crates/ and fuzz/ starts with the SPDX license identifier line.
# Usage: .ci/spdx.sh          list the files without it (exit 1 if any)
#        .ci/spdx.sh --fix    add it as the first line of those files
set -euo pipefail
cd "$(dirname "$0")/.."
header='// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause'
missing=()
while IFS= read -r f; do
    [ "$(head -n 1 "$f")" = "$header" ] || missing+=("$f")
done < <(git ls-files 'crates/*.rs' 'fuzz/*.rs')
if [ "${1:-}" = "--fix" ]; then
    for f in ${missing[@]+"${missing[@]}"}; do
        { printf '%s\n' "$header"; cat "$f"; } > "$f.spdx" && mv "$f.spdx" "$f"
    done
    echo "spdx: added to ${#missing[@]} files"
    exit 0
fi
if [ "${#missing[@]}" -gt 0 ]; then
    printf 'spdx: missing in %s\n' "${missing[@]}"
    echo "spdx: FAILED (.ci/spdx.sh --fix adds the line)"
    exit 1
fi
echo "spdx: OK"
