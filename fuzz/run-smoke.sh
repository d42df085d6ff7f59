#!/usr/bin/env bash
# Fuzz smoke run: every cargo-fuzz target for N seconds (default 20) from a generated seed
# corpus. Needs a nightly toolchain (`cargo +nightly`) and cargo-fuzz; without nightly it
# says why and exits 0. cargo-fuzz is installed (crates.io) when nightly exists and it is
# missing. A crash, a failed invariant or a timeout fails the run (exit 1); the input is
# left in fuzz/artifacts/<target>/.
#
#   fuzz/run-smoke.sh [SECONDS] [TARGET...]
#
# Env: FUZZ_SMOKE_REQUIRE=1 turns "no nightly / cannot install cargo-fuzz" into a failure;
# FUZZ_RUNS=N runs each target for N inputs instead of SECONDS (the long runs of buildkite);
# FUZZ_BUILD_FLAGS: extra `cargo fuzz run` build flags. The long runs use
# "-s none --no-trace-compares": edge coverage only, no AddressSanitizer (the harnesses
# and crates are safe Rust but for the audited mmap / volatile accesses, which the
# ASan smoke run keeps covering); 2-5x the inputs per second, which is what makes
# 10 M inputs of the platform targets take an hour instead of a day.
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-20}"
shift || true
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
    echo "usage: $0 [SECONDS>0] [TARGET...]" >&2
    exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(hypercall_dispatch evtchn_ops snapshot_load xenstore_ring console_ring boot_loader grant_backend blkif_ring)
fi

skip() {
    echo "fuzz smoke: SKIPPED: $*"
    if [ "${FUZZ_SMOKE_REQUIRE:-0}" = 1 ]; then
        exit 1
    fi
    exit 0
}

if ! cargo +nightly --version >/dev/null 2>&1; then
    skip "no nightly toolchain (cargo +nightly); cargo-fuzz needs -Zsanitizer"
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz smoke: installing cargo-fuzz"
    if ! cargo install cargo-fuzz --locked; then
        skip "cargo-fuzz is missing and could not be installed"
    fi
fi

echo "fuzz smoke: $(cargo +nightly --version), $(cargo +nightly fuzz --version)"
echo "fuzz smoke: input decoder tests"
cargo +nightly test --quiet --lib
echo "fuzz smoke: generating seed corpus"
cargo +nightly run --quiet --bin gen_corpus -- corpus

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="$(mktemp)"
    # -timeout: one input taking > 10 s is a hang; -rss_limit_mb: the machine is shared.
    if [ -n "${FUZZ_RUNS:-}" ]; then
        limit=(-runs="$FUZZ_RUNS")
        echo "fuzz smoke: $t for $FUZZ_RUNS inputs"
    else
        limit=(-max_total_time="$secs")
        echo "fuzz smoke: $t for ${secs}s"
    fi
    # shellcheck disable=SC2086 # FUZZ_BUILD_FLAGS is a list of flags
    if cargo +nightly fuzz run ${FUZZ_BUILD_FLAGS:-} "$t" "corpus/$t" -- \
        "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        runs="$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)"
        cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' "$log" | tail -1 || true)"
        echo "fuzz smoke: $t OK: ${runs:-?}s; ${cov:-no coverage line}"
    else
        echo "fuzz smoke: $t FAILED; last lines:"
        tail -40 "$log"
        failed+=("$t")
    fi
    rm -f "$log"
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz smoke: FAILED targets: ${failed[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
echo "fuzz smoke: ${#targets[@]} passed, 0 failed"
