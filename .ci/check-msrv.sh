#!/usr/bin/env bash
# Builds each workspace crate with the toolchain of its `rust-version` (library crates:
# `cargo check --lib`; xen-vmm also its binary). Dev-dependencies (criterion, trybuild)
# need newer toolchains, so tests, benches and examples are not built here.
# Needs rustup and the network to install the toolchains (buildkite step `msrv-x86_64`;
# .ci/check-rust-version.py is the offline check that .ci/run does). With
# --installed-only (.ci/run), toolchains rustup does not have are reported and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
installed_only=0
[ "${1:-}" = "--installed-only" ] && installed_only=1
# Apart from the stable toolchain's artifacts.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/msrv"
cargo metadata --format-version 1 --no-deps --locked | python3 -c '
import json, sys
by_version = {}
for p in json.load(sys.stdin)["packages"]:
    has_bin = any("bin" in t["kind"] for t in p["targets"])
    by_version.setdefault(p["rust_version"], []).append((p["name"], has_bin))
for v, crates in sorted(by_version.items()):
    print(v, " ".join(f"{n}:{int(b)}" for n, b in sorted(crates)))
' | while read -r version crates; do
    if [ "$installed_only" = 1 ]; then
        if ! rustup toolchain list | grep -q "^$version[.-]"; then
            echo "msrv: SKIPPED $version ($crates): toolchain not installed" \
                "(rustup toolchain install $version --profile minimal)"
            continue
        fi
    else
        rustup toolchain install "$version" --profile minimal --no-self-update
    fi
    args=()
    bins=()
    for c in $crates; do
        args+=(-p "${c%%:*}")
        [ "${c##*:}" = 1 ] && bins=(--bins)
    done
    echo "msrv: cargo +$version check ${args[*]}"
    cargo "+$version" check --locked --lib "${bins[@]}" "${args[@]}"
done
echo "msrv: OK"
