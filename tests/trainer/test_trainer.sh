#!/usr/bin/env bash
# The ListOps trainer end to end (ctest: trainer_resume, trainer_errors):
#   resume  train 40 steps; train again, kill -9 it after a checkpoint, resume: every step after
#           the checkpoint must have exactly (bit for bit) the loss of the uninterrupted run
#   errors  bad flags and a bad data file give exit status 2 / 1 and one line on stderr
set -euo pipefail
trainer=$1
what=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tiny=(--quick --data "$work/data" --train-size 600 --steps 40 --warmup 5 --batch 8 --dim 16
      --ffn 32 --heads 2 --min-len 20 --max-len 60 --max-depth 4 --eval-every 1000 --log-every 10
      --threads 2)
source "$(dirname "$0")/../testing.sh"

if [ "$what" = resume ]; then
  "$trainer" "${tiny[@]}" --loss-log "$work/reference.log" >/dev/null
  [ "$(wc -l <"$work/reference.log")" -eq 40 ] || fail "reference run logged $(wc -l <"$work/reference.log") steps"

  "$trainer" "${tiny[@]}" --checkpoint "$work/ckpt" --checkpoint-every 5 \
    --loss-log "$work/killed.log" >"$work/killed.out" &
  pid=$!
  # Kill it once a checkpoint of step >= 20 is on disk (it may be mid-save: that must be safe).
  for _ in $(seq 1 600); do
    grep -qE "saved .* \(step (2[0-9]|3[0-9])\)" "$work/killed.out" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
  done
  kill -9 $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  [ -f "$work/ckpt/checkpoint.safetensors" ] || fail "no checkpoint survived the kill"

  "$trainer" "${tiny[@]}" --checkpoint "$work/ckpt" --checkpoint-every 5 --resume \
    --loss-log "$work/resumed.log" >"$work/resumed.out"
  start=$(grep -oE "resumed from .* at step [0-9]+" "$work/resumed.out" | grep -oE "[0-9]+$")
  echo "resumed at step $start"
  [ "$start" -ge 5 ] || fail "resumed at step $start"
  # Every resumed step's loss equals the reference's, bit for bit.
  diff <(awk -v s="$start" '$1 > s' "$work/reference.log") "$work/resumed.log" \
    || fail "resumed losses differ from the uninterrupted run"
  [ "$(wc -l <"$work/resumed.log")" -eq $((40 - start)) ] || fail "resumed run logged the wrong steps"
  echo "resume: $((40 - start)) steps identical"
  exit 0
fi

if [ "$what" = errors ]; then
  expect() { expect_error "$trainer" "$@"; }
  expect 2 "unknown flag --nope" --nope
  expect 2 "--steps needs an integer" --steps zero
  expect 2 "--steps needs a value" --steps
  expect 2 "--lr needs a non-negative number" --lr -1
  expect 2 "unexpected argument 'extra'" extra
  expect 2 "--resume needs --checkpoint" --resume
  expect 1 "unknown model 'rnn'" "${tiny[@]}" --model rnn
  expect 1 "no checkpoint at" "${tiny[@]}" --checkpoint "$work/none" --resume
  # A damaged data file: the error names the file and the line.
  "$trainer" "${tiny[@]}" --steps 1 >/dev/null
  printf 'label\tsource\n9\t[MAX 2 9 ]\nbanana\t[MIN 1 2 ]\n' >"$work/data/dev.tsv"
  expect 1 "dev.tsv:3" "${tiny[@]}"
  echo "errors: all one-line"
  exit 0
fi
fail "unknown test '$what'"
