#!/bin/sh
# The PKI ceremony of the small federation in compose.yaml, run once by its `ceremony` service:
# the city becomes the root, enrolls the district, which enrolls the institution; each unit's key
# is made in its own folder and never copied. In a real deployment every step runs on its own
# unit's machine and only requests (.csr) and bundles travel (see deploy/README.md).
# Usage: ceremony.sh [DATA_ROOT] (default /data); YL_BIN may name the folder of the binaries.
set -eu
ROOT="${1:-/data}"
BIN="${YL_BIN:-/usr/local/bin}"
PASSWORD="${YL_DEMO_PASSWORD:-change-me-2026}"
CITY="$ROOT/city" DISTRICT="$ROOT/district" INST="$ROOT/institution" X="$ROOT/exchange"
if [ -f "$X/done" ]; then
  echo "the federation is already set up in $ROOT"
  exit 0
fi
mkdir -p "$X"
hub() { "$BIN/yl-hub" "$@"; }
node() { "$BIN/yl-node" "$@"; }

hub --data "$CITY" init --unit 500000 --name 重庆市卫生健康委员会 --kind city
hub --data "$CITY" pki init-root

hub --data "$DISTRICT" init --unit 500103 --name 渝中区卫生健康委员会 --kind district --csr-out "$X/500103.csr"
hub --data "$CITY" enroll --csr "$X/500103.csr" --unit 500103 --role hub \
    --advertise https://city:7443 --out "$X/500103.bundle"
hub --data "$DISTRICT" join --bundle "$X/500103.bundle"

node --data "$INST" init --unit 500103-0001 --name 重庆医科大学附属第一医院 --kind institution --csr-out "$X/500103-0001.csr"
hub --data "$DISTRICT" enroll --csr "$X/500103-0001.csr" --unit 500103-0001 --role node \
    --advertise https://district:7443 --out "$X/500103-0001.bundle"
node --data "$INST" join --bundle "$X/500103-0001.bundle"

# One editor account on each unit's pages.
hub --data "$CITY" user add --name admin --role editor --password "$PASSWORD"
hub --data "$DISTRICT" user add --name admin --role editor --password "$PASSWORD"
node --data "$INST" user add --name admin --role editor --password "$PASSWORD"
touch "$X/done"
echo "federation ready: city 500000 ← district 500103 ← institution 500103-0001"
