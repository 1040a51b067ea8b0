#!/bin/sh
# scripts/gpu-train.sh - one deadline-bounded training run of the 128x128 demo model on the lent
# GPU, resuming from the previous run's checkpoint (issue 18; docs/training.md, "Training on the
# lent GPU").
#
# 1. On the development machine:
#        scripts/gpu-train.sh prepare [FROM]
#    fills .gl/train/ (ignored by git; carried explicitly): the packed open-peeps data
#    (open-peeps-128.npy.xz + .json; built with scripts/dataset/build_open_peeps.sh and
#    python -m inrgan.pack into $GPU_TRAIN_DATA_DIR, default /work/data, when missing there) and,
#    when FROM is given, the resumable checkpoint FROM/checkpoint.json + FROM/checkpoint.part*
#    (what the previous run left in $OUT), checked against its sha256 manifest. It checks the
#    data against the digests committed in scripts/dataset/open-peeps-packed.sha256 and prints
#    the size that will travel.
# 2. Through the device tool, carry [".gl/train"], timeout_s 600:
#        sh scripts/gpu-train.sh run
#    A global deadline of $BUDGET seconds (default 540) from the script's start: the trainer
#    gets --stop-at (deadline - $RESERVE, default 90 s kept for the final snapshot: SWD of 1,024
#    samples vs the floor, checkpoint, sample grid) and is sent SIGTERM (it then saves its
#    checkpoint, computes the final SWD, saves again and exits) if it still runs 20 s before
#    the deadline, SIGKILL 30 s later. Then, whatever happened, the newest complete
#    checkpoint (written atomically, so a kill cannot tear it) goes to $OUT split into parts of at most
#    $PART_MIB MiB (default 15) with its manifest, plus the fp16 G_ema export, the log lines
#    (log.jsonl: progress + SWD points) and the last sample grid. At most 8 files:
#    train.log, log.jsonl, checkpoint.json, checkpoint.part0.., model-fp16.safetensors,
#    fakes-latest.png. Exit status: the trainer's (0 also when it stopped at the deadline).
#
# Environment: GPU_TRAIN_CONFIG (default assets/demo128-train.json), GPU_TRAIN_RES (128),
# GPU_TRAIN_ARGS (extra trainer options, e.g. "--compile 1" or "--amp fp16"), PYTHON (run:
# python3; prepare: /usr/bin/python3), GPU_TRAIN_RUN (run folder, /tmp/inrgan-gpu-run),
# GPU_TRAIN_DIR (the carried folder, .gl/train), TERM_MARGIN (SIGTERM this many seconds before
# the deadline, 20). tests/test_gpu_train_script.py runs both modes on a tiny set.
# Rehearsal on a CPU: BUDGET=150 RESERVE=60 OUT=/tmp/fake-out GPU_TRAIN_ARGS="--batch 8
# --swd-images 128 --snap-minutes 0.5" sh scripts/gpu-train.sh run   (docs/training.md).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
G=${GPU_TRAIN_DIR:-.gl/train}
RES=${GPU_TRAIN_RES:-128}
PACK=open-peeps-$RES.npy.xz
CONFIG=${GPU_TRAIN_CONFIG:-assets/demo128-train.json}
SUMS=scripts/dataset/open-peeps-packed.sha256

if [ "${1:-}" = prepare ]; then
    set -e
    PY=${PYTHON:-/usr/bin/python3}
    D=${GPU_TRAIN_DATA_DIR:-/work/data}
    FROM=${2:-}
    mkdir -p "$G"
    case $G in .gl/*) [ -f .gl/.gitignore ] || printf '*\n' >.gl/.gitignore ;; esac # ignores itself
    if [ ! -f "$D/packed/$PACK" ]; then
        [ -f "$D/open-peeps-128.npy" ] || sh scripts/dataset/build_open_peeps.sh 12000 128 "$D"
        mkdir -p "$D/packed"
        R=""
        [ "$RES" = 128 ] || R="--resolution $RES"
        # shellcheck disable=SC2086
        (cd python && nice "$PY" -m inrgan.pack "$D/open-peeps-128.npy" $R -o "$D/packed/$PACK")
    fi
    if ! cmp -s "$D/packed/$PACK" "$G/$PACK" 2>/dev/null; then
        cp "$D/packed/$PACK" "$D/packed/$PACK.json" "$G/"
    fi
    # the digests committed with the scripts: raw pixels (reproducibility), file (transport)
    "$PY" - "$G/$PACK.json" "$SUMS" <<'EOF'
import json, sys
meta = json.load(open(sys.argv[1]))
want = {}
for line in open(sys.argv[2]):
    if line.strip() and not line.startswith("#"):
        digest, name = line.split()
        want[name] = digest
name = meta["file"]
for key, label in (("raw_sha256", name + ":raw"), ("sha256", name)):
    w = want.get(label)
    if w is None:
        print("prepare: %s not listed in %s" % (label, sys.argv[2]))
    elif w != meta[key]:
        msg = "prepare: %s %s differs from the committed %s" % (label, meta[key], w)
        if key == "raw_sha256":
            sys.exit(msg + " (the pixels differ: check the npm/cairosvg versions)")
        print(msg + " (same pixels, other xz output: fine)")
    else:
        print("prepare: %s sha256 ok" % label)
EOF
    rm -rf "$G/ck"
    if [ -n "$FROM" ]; then
        [ -f "$FROM/checkpoint.json" ] || { echo "prepare: $FROM/checkpoint.json not found" >&2; exit 2; }
        mkdir -p "$G/ck"
        cp "$FROM"/checkpoint.json "$FROM"/checkpoint.part* "$G/ck/"
        CKJ=$(cd "$G/ck" && pwd)/checkpoint.json
        if ! (cd python && "$PY" -c "import sys; from inrgan import ckpt
try:
    ck = ckpt.load(sys.argv[1])
except (OSError, ValueError) as e:
    sys.exit('prepare: %s' % e)
h = ck.get('swd_history') or [{}]
print('prepare: resuming from kimg %.1f (step %d), last SWD %s' % (ck['cur_nimg'] / 1000, ck['step'], h[-1].get('swd')))" "$CKJ"); then
            rm -rf "$G/ck" # never leave a checkpoint that does not load for the run
            exit 1
        fi
    else
        echo "prepare: no FROM: the run starts from scratch"
    fi
    tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
    carried=$(du -sb "$G" | cut -f1)
    echo "prepare: .gl/train $((carried / 1048576)) MiB + working tree $((tree / 1048576)) MiB = $(((carried + tree) / 1048576)) MiB of the 64 MiB that may travel"
    [ $((carried + tree)) -lt 67108864 ] || { echo "prepare: over 64 MiB: will not travel" >&2; exit 1; }
    echo "prepared: now run 'sh scripts/gpu-train.sh run' on the device, carry [\".gl/train\"], timeout_s 600"
    exit 0
fi

if [ "${1:-}" != run ]; then
    echo "usage: scripts/gpu-train.sh prepare [FROM] | run" >&2
    exit 2
fi

T0=$(date +%s)
BUDGET=${BUDGET:-540}
RESERVE=${RESERVE:-90}
PART_MIB=${PART_MIB:-15}
PY=${PYTHON:-python3}
O=${OUT:-/tmp/inrgan-gpu-train}
RUN=${GPU_TRAIN_RUN:-/tmp/inrgan-gpu-run}
mkdir -p "$O"
LOG=$O/train.log
export PYTHONUNBUFFERED=1 PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
log() { echo "$*" | tee -a "$LOG"; }
left() { echo $((BUDGET - ($(date +%s) - T0))); }

log "== gpu-train: budget ${BUDGET}s (reserve ${RESERVE}s), $(date -u +%Y-%m-%dT%H:%M:%SZ), config $CONFIG"
HW=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
log "== device: ${HW:-no nvidia-smi (CPU rehearsal)}"
RESUME=""
if [ -f "$G/ck/checkpoint.json" ]; then
    RESUME="--resume $G/ck/checkpoint.json"
    log "== resuming from $G/ck/checkpoint.json"
else
    log "== no carried checkpoint: training from scratch"
fi
[ -f "$G/$PACK" ] || { log "== $G/$PACK missing: run 'scripts/gpu-train.sh prepare' and carry .gl/train"; exit 2; }
rm -rf "$RUN"
mkdir -p "$RUN"
STOP_AT=$((T0 + BUDGET - RESERVE))
LIM=$(($(left) - ${TERM_MARGIN:-20}))
log "== train: stop at +$((BUDGET - RESERVE))s, SIGTERM after ${LIM}s"
# shellcheck disable=SC2086
timeout -s TERM -k 30 "$LIM" "$PY" -m inrgan.train --config "$CONFIG" --data "$G/$PACK" \
    --outdir "$RUN" --stop-at "$STOP_AT" $RESUME ${GPU_TRAIN_ARGS:-} >>"$LOG" 2>&1
rc=$?
log "== train: exit $rc at +$(($(date +%s) - T0))s$([ $rc -eq 124 ] && echo ' (SIGTERM at the deadline)')"
[ $rc -eq 124 ] && rc=0

if [ -f "$RUN/checkpoint.pt" ]; then
    "$PY" -c "import sys; from inrgan import ckpt
m = ckpt.split(sys.argv[1], sys.argv[2], part_bytes=int(sys.argv[3]) << 20)
print('split', sys.argv[1], '->', m)" "$RUN/checkpoint.pt" "$O" "$PART_MIB" >>"$LOG" 2>&1 || rc=1
    "$PY" -m inrgan.train export --checkpoint "$RUN/checkpoint.pt" -o "$O/model-fp16.safetensors" \
        --dtype fp16 --note "hardware=${HW:-CPU rehearsal}" \
        --note "status=demo model in training (scripts/gpu-train.sh)" >>"$LOG" 2>&1 || rc=1
    cp "$RUN/log.jsonl" "$O/log.jsonl" 2>/dev/null
    last=$(ls "$RUN"/samples/fakes*.png 2>/dev/null | tail -1)
    [ -n "$last" ] && cp "$last" "$O/fakes-latest.png"
else
    log "== no checkpoint was written"
    rc=1
fi
log "== gpu-train: done in $(($(date +%s) - T0))s, exit $rc; \$OUT: $(cd "$O" && ls | tr '\n' ' ')"
log "== sizes: $(cd "$O" && du -b -- * | awk '{printf "%s %.1fMiB; ", $2, $1 / 1048576}')"
[ "$(ls "$O" | wc -l)" -le 8 ] || log "== WARNING: more than 8 files in \$OUT: some will not come back"
grep -E "^(kimg|SWD|resumed|stopping|compile|data|exported|global)" "$LOG" | tail -n 25
exit $rc
