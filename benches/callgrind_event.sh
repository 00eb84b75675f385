#!/bin/bash
# Instructions per `tracing` event on the logging thread, from the `tracing_layer` bench under
# callgrind: the inclusive count of the subscriber's `Layered::event` in a run of N1 and one of
# N2 timed events per thread, the difference divided by the events apart (each run logs 2 x N
# events on 1 thread, then on each of 2 threads: 6 x N in all). Deterministic, unlike time.
#
#   cargo bench -p logbuf-benches --bench tracing_layer --no-run
#   benches/callgrind_event.sh target/release/deps/tracing_layer-HASH logbuf-block [visit-tsc ...]
#   LOGBUF_BENCH_IN_SPAN=1 benches/callgrind_event.sh ...      # inside an entered span
set -euo pipefail
bin=$1
shift
n1=10000
n2=20000
out=$(mktemp -d)
for case in "$@"; do
    for n in $n1 $n2; do
        LOGBUF_BENCH_CASES=$case valgrind --tool=callgrind --callgrind-out-file="$out/$n.out" \
            "$bin" --rounds 1 --events $n --warm-up 2000 >/dev/null 2>"$out/$n.err"
        callgrind_annotate --inclusive=yes --threshold=100 "$out/$n.out" 2>/dev/null |
            grep -E 'Layered<L,S> as tracing_core::subscriber::Subscriber>::event( |$)' |
            awk '{ gsub(",", "", $1); print $1 }' >"$out/$n.ir"
    done
    a=$(cat "$out/$n1.ir")
    b=$(cat "$out/$n2.ir")
    awk -v a="$a" -v b="$b" -v d=$((6 * (n2 - n1))) -v c="$case" 'BEGIN { printf "%s: %.1f instructions per event\n", c, (b - a) / d }'
done
rm -r "$out"
