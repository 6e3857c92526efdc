#!/usr/bin/env bash
# The steerability study (docs/findings.md): how k_s and the steering mode change the size of the
# steering effect, over several finished runs (seeds). For each variant and run it makes a run folder
# under OUT whose dense/, pruned/, features/ and sae/ are links to the run's own, recounts the index
# sets (stats) and reruns the sweep with its controls (steer) there, then `compare`s the variant's runs.
# Nothing in the given runs is written. The prune recipe's noise annealing needs its own prune, so it is
# studied with whole runs (`headsteer run --set prune.noiseEnd=1`), not here.
#
# Usage: bash scripts/steerability_study.sh OUT RUN [RUN ...]
# Then:  node scripts/steerability_summary.mjs OUT
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: bash scripts/steerability_study.sh OUT RUN [RUN ...]" >&2; exit 2; }
cd "$(dirname "$0")/.."
out=$1
shift
cli=(node dist/src/cli/main.js)

# name: stats overrides | steer overrides (k_s = 16 = k and mode pre are the defaults)
variants=(
  "default:|"
  "ks2:--set steer.ks=2|--set steer.ks=2"
  "ks4:--set steer.ks=4|--set steer.ks=4"
  "ks8:--set steer.ks=8|--set steer.ks=8"
  "post:|--mode post"
  "add:|--mode add"
)

for v in "${variants[@]}"; do
  name=${v%%:*}
  rest=${v#*:}
  stats_args=${rest%%|*}
  steer_args=${rest#*|}
  dirs=()
  for run in "$@"; do
    run=$(cd "$run" && pwd)
    dir=$out/$name/$(basename "$run")
    mkdir -p "$dir"
    for stage in dense pruned features sae; do ln -sfn "$run/$stage" "$dir/$stage"; done
    if [ ! -f "$dir/steer/results.json" ]; then
      # shellcheck disable=SC2086 # the overrides are words on purpose
      # --force: statistics (or a sweep) left by an interrupted earlier pass are redone, not kept.
      "${cli[@]}" stats --run "$dir" $stats_args --force >/dev/null
      # shellcheck disable=SC2086
      "${cli[@]}" steer --run "$dir" $steer_args --force >/dev/null
    fi
    dirs+=("$dir")
  done
  "${cli[@]}" compare "${dirs[@]}" --out "$out/$name/compare" >/dev/null
  echo "$name: $out/$name/compare/comparison.json"
done
