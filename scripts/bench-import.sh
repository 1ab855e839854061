#!/usr/bin/env bash
# Measures the import of generated camera sheets: wall time, peak memory (GNU time's maximum
# resident set size) and the store's size on disk. Usage: scripts/bench-import.sh [ROWS ...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p yinglian-node
bin=target/release/yl-node
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| rows | format | import wall time (s) | peak memory (MiB) | store on disk (MiB) |"
echo "| ---: | --- | ---: | ---: | ---: |"
[ $# -gt 0 ] || set -- 5000 50000
for rows in "$@"; do
  for fmt in xlsx csv; do
    data="$work/d-$rows-$fmt"
    sheet="$work/s-$rows.$fmt"
    "$bin" sample-sheet --out "$sheet" --rows "$rows" --seed 3 >/dev/null
    "$bin" --data "$data" init --unit 500103-0001 --name 医院 >/dev/null
    /usr/bin/time -f "%e %M" -o "$work/t" "$bin" --data "$data" camera import "$sheet" >/dev/null
    read -r secs kb < "$work/t"
    bytes=$(du -cb "$data"/store.sqlite* | tail -1 | cut -f1)
    printf '| %s | %s | %s | %.1f | %.1f |\n' "$rows" "$fmt" "$secs" "$(echo "$kb/1024" | bc -l)" "$(echo "$bytes/1048576" | bc -l)"
  done
done
