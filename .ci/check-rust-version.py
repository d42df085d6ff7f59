#!/usr/bin/env python3
"""Checks that each workspace crate's `rust-version` (MSRV) is at least the declared
`rust-version` of every crate it builds with: its normal and build dependencies,
transitively, as `cargo metadata` resolves them (all targets and the workspace's
unified features, so an over-approximation). Dev-dependencies (criterion, trybuild) are
not counted: they may need a newer toolchain than the crates' users.

Offline-safe once the dependencies are in the local cache (`cargo metadata` reads
Cargo.lock). Exit status 1 and one line per offending dependency when a crate claims an
MSRV some dependency does not support, or has none.
"""

import json
import subprocess
import sys


def version(v):
    return tuple(int(x) for x in v.split("."))


def show(v):
    return ".".join(str(x) for x in v)


def main():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            check=True,
            stdout=subprocess.PIPE,
        ).stdout
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])
    failures = 0
    for member in sorted(members, key=lambda i: packages[i]["name"]):
        pkg = packages[member]
        if not pkg.get("rust_version"):
            print(f"{pkg['name']}: no rust-version")
            failures += 1
            continue
        msrv = version(pkg["rust_version"])
        seen, stack = set(), [member]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            for dep in nodes[node]["deps"]:
                kinds = {k["kind"] for k in dep["dep_kinds"]}
                # Not dev-dependencies: the crate's own are not the users' concern,
                # those of its dependencies are never built.
                if kinds & {None, "build"}:
                    stack.append(dep["pkg"])
        needed = []
        for dep in seen - {member}:
            d = packages[dep]
            if d.get("rust_version") and version(d["rust_version"]) > msrv:
                needed.append(d)
        for d in sorted(needed, key=lambda d: d["name"]):
            print(
                f"{pkg['name']}: rust-version {show(msrv)} is below "
                f"{d['name']} {d['version']}'s {d['rust_version']}"
            )
        failures += len(needed)
        top = max(
            (version(packages[d]["rust_version"]) for d in seen - {member}
             if packages[d].get("rust_version")),
            default=(0,),
        )
        print(f"{pkg['name']}: rust-version {show(msrv)}, dependencies need {show(top)}")
    if failures:
        print(f"rust-version: FAILED ({failures})")
        return 1
    print("rust-version: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
