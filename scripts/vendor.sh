#!/usr/bin/env bash
# Refresh the third-party browser files under static/vendor/.
#
# Each package is fetched from the npm registry at a pinned version with
# `npm pack`, and only the files the pages use (plus the package's licence)
# are copied to static/vendor/<name>-<version>/. The result is committed, so
# running the site never needs npm; run this script only to change a version.
#
# Usage: scripts/vendor.sh            (from anywhere inside the repository)
set -euo pipefail

PICO_VERSION="2.1.1"
DIFF_VERSION="8.0.4"
HLJS_VERSION="11.12.0"
AXE_VERSION="4.10.2"  # the accessibility checker tests/e2e/test_pages_layout_e2e.py runs; no page loads it

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/static/vendor"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

command -v npm >/dev/null || { echo "vendor.sh: npm is required" >&2; exit 1; }

# vendor <npm-name> <version> <dest-dir-name> <file-in-package>...
# Files keep their path relative to the package root, minus a leading "dist/".
vendor() {
    local name="$1" version="$2" dest_name="$3"
    shift 3
    local work="$TMP/$dest_name"
    mkdir -p "$work"
    echo "vendor.sh: $name@$version"
    local tarball
    tarball="$(cd "$work" && npm pack --silent "$name@$version" | tail -n 1)"
    tar -xzf "$work/$tarball" -C "$work"
    local pkg="$work/package"

    local dest="$VENDOR/$dest_name-$version"
    rm -rf "$dest"
    mkdir -p "$dest"

    local file rel
    for file in "$@"; do
        if [[ ! -f "$pkg/$file" ]]; then
            echo "vendor.sh: $name@$version has no $file" >&2
            exit 1
        fi
        rel="${file#dist/}"
        mkdir -p "$dest/$(dirname "$rel")"
        cp "$pkg/$file" "$dest/$rel"
    done

    local licence=""
    for candidate in LICENSE LICENSE.md LICENSE.txt LICENCE license license.md; do
        if [[ -f "$pkg/$candidate" ]]; then licence="$candidate"; break; fi
    done
    if [[ -z "$licence" ]]; then
        echo "vendor.sh: $name@$version ships no LICENSE file" >&2
        exit 1
    fi
    cp "$pkg/$licence" "$dest/LICENSE"
}

mkdir -p "$VENDOR"

# Remove older vendored versions of the same packages so only the pins remain.
for prefix in pico diff highlight.js axe-core; do
    find "$VENDOR" -mindepth 1 -maxdepth 1 -type d -name "$prefix-*" -exec rm -rf {} +
done

vendor "@picocss/pico" "$PICO_VERSION" "pico" \
    css/pico.min.css
vendor "diff" "$DIFF_VERSION" "diff" \
    dist/diff.min.js
vendor "@highlightjs/cdn-assets" "$HLJS_VERSION" "highlight.js" \
    highlight.min.js styles/github.min.css styles/github-dark.min.css
vendor "axe-core" "$AXE_VERSION" "axe-core" \
    axe.min.js LICENSE-3RD-PARTY.txt

echo "vendor.sh: done"
du -sh "$VENDOR"/*
