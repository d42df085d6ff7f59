#!/usr/bin/env bash
# Coverage gate in the rust-vmm-ci way: measures line coverage with cargo-llvm-cov and
# compares it with coverage_config_x86_64.json:
#   {"coverage_score": N, "exclude_path": "REGEX", "crate_features": ""}
# exclude_path is a regex of source paths left out of the score (passed to
# --ignore-filename-regex); packages whose src/lib.rs it matches are not run at all.
# Fails if coverage dropped below coverage_score (- 0.5 for noise); asks for an update of the
# file if it rose by more than 0.5. Needs cargo-llvm-cov and the llvm-tools component.
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=coverage_config_x86_64.json

field() {
    sed -nE "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"?([^\",}]*)\"?.*/\1/p" "$cfg" | head -1
}
score="$(field coverage_score)"
exclude="$(field exclude_path)"
features="$(field crate_features)"

args=(--workspace --summary-only)
for dir in crates/*/; do
    name="$(sed -nE 's/^name = "([^"]+)"/\1/p' "$dir/Cargo.toml" | head -1)"
    if [ -n "$exclude" ] && printf '%s\n' "${dir}src/lib.rs" | grep -Eq "$exclude"; then
        args+=(--exclude "$name")
    fi
done
[ -n "$exclude" ] && args+=(--ignore-filename-regex "$exclude")
[ -n "$features" ] && args+=(--features "$features")

export XEN_ON_KVM_REQUIRE_KVM="${XEN_ON_KVM_REQUIRE_KVM:-1}"
# Profiles left by an earlier run of changed code would mix old and new counters.
cargo llvm-cov clean --workspace
out="$(cargo llvm-cov "${args[@]}")"
printf '%s\n' "$out"
# TOTAL  regions missed cover  functions missed executed  lines missed cover ...
got="$(printf '%s\n' "$out" | awk '$1 == "TOTAL" { sub("%", "", $10); print $10 }')"
if [ -z "$got" ]; then
    echo "coverage: no TOTAL line in the cargo llvm-cov output" >&2
    exit 1
fi
echo "coverage: measured ${got}% lines, configured ${score}%"
if awk -v g="$got" -v s="$score" 'BEGIN { exit !(g < s - 0.5) }'; then
    echo "coverage: FAILED: dropped from ${score}% to ${got}%" >&2
    exit 1
fi
if awk -v g="$got" -v s="$score" 'BEGIN { exit !(g > s + 0.5) }'; then
    echo "coverage: FAILED: rose to ${got}%: update coverage_score in $cfg" >&2
    exit 1
fi
echo "coverage: OK"
