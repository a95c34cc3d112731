#!/usr/bin/env bash
# Regenerates packaging/link-order.txt, the order in which the release build lays out vipd's
# functions (build.rs hands it to lld as --symbol-ordering-file): every function that ran in
# the bench/mem.sh lab (250 v3 instances at 10 ms, a master and a backup, a /metrics scrape on
# each), hottest first, so the code a running daemon uses sits in a few contiguous pages
# instead of being spread over the whole executable (issue 14: resident memory; the kernel maps
# a file's pages 64 KiB around each one touched). Run it before a release, after a change of
# dependencies, or when bench/mem.sh reports that few of the file's names are still in the
# build; commit the result. Names that no longer exist are ignored by the linker.
#
# Root (bench/mem.sh's lab), valgrind. It builds the release binary first without the file
# (VIPD_LINK_ORDER=off), profiles it as r1 (master) and then as r2 (backup) under callgrind,
# and writes the union. Environment: SETTLE (default 20 seconds under callgrind); TARGET=
# x86_64-unknown-linux-musl profiles the static musl build (`cargo build --release --target
# x86_64-unknown-linux-musl`; its symbol names differ) and writes packaging/link-order-musl.txt.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
[ "$(id -u)" = 0 ] || { echo "link-order: needs root" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "link-order: needs valgrind" >&2; exit 1; }
OUT=$(mktemp -d /tmp/link-order.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
TARGET=${TARGET:-}
if [ -n "$TARGET" ]; then
    (cd "$ROOT" && VIPD_LINK_ORDER=off cargo build --release -q --target "$TARGET")
    BUILT="$ROOT/target/$TARGET/release/vipd"
else
    (cd "$ROOT" && VIPD_LINK_ORDER=off cargo build --release -q)
    BUILT="$ROOT/target/release/vipd"
fi
case "$TARGET" in
    *-musl) FILE="$ROOT/packaging/link-order-musl.txt" ;;
    *) FILE="$ROOT/packaging/link-order.txt" ;;
esac
BIN="$OUT/vipd"
cp "$BUILT" "$BIN"
CG="valgrind --tool=callgrind --demangle=no --dump-every-bb=20000000 --callgrind-out-file=$OUT/cg.%p"
for r in R1 R2; do
    env "WRAP_$r=$CG" VIPD_BIN="$BIN" IMPLS=vipd SETTLE="${SETTLE:-20}" "$HERE/mem.sh" >"$OUT/mem-$r.log" 2>&1 ||
        { cat "$OUT/mem-$r.log" >&2; exit 1; }
done
python3 "$HERE/link_order.py" "$BIN" "$OUT"/cg.* >"$FILE"
echo "link-order: wrote $FILE; rebuild (cargo build --release${TARGET:+ --target $TARGET}) to use it"
