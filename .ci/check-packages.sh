#!/usr/bin/env bash
# Publishability: what crates.io would get.
#  1. `cargo publish --workspace --dry-run`: packages every crate in dependency order and
#     builds each from its .crate file, the unpublished workspace dependencies coming from
#     a local registry of the packages just made (needs the crates.io index).
#  2. The packaged library crates' tests and doctests as a user of the published crate
#     runs them: the workspace is gone, path-only dev-dependencies are stripped (such as
#     xen-hypercall's own `test-support`), and the workspace dependencies are the packaged
#     ones (`[patch.crates-io]` to the unpacked .crate files). Without features a crate's
#     tests must build and pass (cargo skips those whose `required-features` are off); with
#     `--all-features` all of them must.
# Usage: .ci/check-packages.sh [--no-publish] [CRATE...]
#   CRATE...: the library crates whose packaged tests run (default: all of them).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"

publish=1
if [ "${1:-}" = "--no-publish" ]; then
    publish=0
    shift
fi
only=("$@")
# `cargo publish --workspace` serves the packages just made from a local registry, which
# cargo extracts under CARGO_HOME (registry/src/-<hash>/) and does not extract again when
# a directory of that name and version exists: a copy left by an earlier run would be
# built instead of the current sources. Our crates are not on crates.io, so every
# extraction of them is such a copy (crates.io's own directories are not touched).
# Packages of an earlier run (same versions) are removed too: every run starts clean.
rm -rf "$target/package"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
for dir in crates/*/; do
    name="$(sed -nE 's/^name = "([^"]+)"/\1/p' "$dir/Cargo.toml" | head -1)"
    rm -rf "$cargo_home"/registry/src/-*/"$name"-[0-9]*
done
if [ "$publish" = 1 ]; then
    # A target directory of its own, emptied first: cargo takes a crate from a registry
    # as immutable and would reuse what an earlier run compiled from the same name and
    # version, however the source changed since.
    rm -rf "$target/publish-check"
    CARGO_TARGET_DIR="$target/publish-check" cargo publish --workspace --dry-run --allow-dirty
fi
cargo package --workspace --no-verify --allow-dirty --quiet

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
members=()
for dir in crates/*/; do
    name="$(sed -nE 's/^name = "([^"]+)"/\1/p' "$dir/Cargo.toml" | head -1)"
    version="$(cargo metadata --format-version 1 --no-deps |
        python3 -c "import json,sys; print(next(p['version'] for p in json.load(sys.stdin)['packages'] if p['name'] == '$name'))")"
    tar xzf "$target/package/$name-$version.crate" -C "$work"
    members+=("$name-$version")
done
patch=()
for m in "${members[@]}"; do
    patch+=(--config "patch.crates-io.${m%-*}.path=\"$work/$m\"")
done

# Library crates: xen-vmm's tests need /dev/kvm and run in the workspace already.
for m in "${members[@]}"; do
    case "$m" in xen-vmm-*) continue ;; esac
    if [ "${#only[@]}" -gt 0 ] && ! printf '%s\n' "${only[@]}" | grep -qx "${m%-*}"; then
        continue
    fi
    echo "packaged tests: $m"
    (
        cd "$work/$m"
        # Its own lock file (`cargo package` writes one); a fresh one would pick newer
        # registry versions than the workspace tested.
        export CARGO_TARGET_DIR="$target/packaged-tests"
        cargo test --quiet "${patch[@]}"
        cargo test --quiet --all-features "${patch[@]}"
    )
done
echo "packages: OK"
