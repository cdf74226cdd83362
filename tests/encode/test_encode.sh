#!/usr/bin/env bash
# ponet-encode end to end (ctest: encode_parity, encode_errors), on the PyTorch fixture of
# tests/fixtures/make_bert_fixture.py (tests/fixtures/bert):
#   parity  --input files and --text give the fixture's expected tensors (float, rel. err 1e-4;
#           the tokenized ids exactly), with clsgsepg on and off and explicit segment ids
#   errors  bad flags, model directories, checkpoints and inputs: non-zero exit, exactly one line
#           on stderr naming the problem, and no output file (nor its temporary) left behind
# Usage: test_encode.sh ENCODE TESTKIT FIXTURE_DIR parity|errors
set -euo pipefail
encode=$1
kit=$2
fx=$(cd "$3" && pwd)
what=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAIL: command at line $LINENO exited $?" >&2' ERR
source "$(dirname "$0")/../testing.sh"
tol=1e-4

# A model directory like the fixture's with config.json passed through sed expression $1.
model_with_config() {
  local dir
  dir=$(mktemp -d "$work/model.XXXXXX")
  sed "$1" "$fx/config.json" >"$dir/config.json"
  ln -s "$fx/model.safetensors" "$dir/model.safetensors"
  ln -s "$fx/vocab.txt" "$dir/vocab.txt"
  echo "$dir"
}

if [ "$what" = parity ]; then
  for case in sentences segment_ids; do
    "$encode" --model "$fx" --input "$fx/$case.inputs.safetensors" --output "$work/$case.out" \
      >"$work/stdout"
    "$kit" compare "$work/$case.out" "$fx/$case.expected.safetensors" $tol \
      || fail "$case differs from PyTorch"
  done
  off=$(model_with_config 's/"clsgsepg": true/"clsgsepg": false/')
  grep -q '"clsgsepg": false' "$off/config.json" || fail "could not switch clsgsepg off"
  "$encode" --model "$off" --input "$fx/sentences.inputs.safetensors" --output "$work/off.out" \
    >/dev/null
  "$kit" compare "$work/off.out" "$fx/sentences_no_clsgsepg.expected.safetensors" $tol \
    || fail "sentences without clsgsepg differ from PyTorch"

  texts=(--text "The cat sat on the mat." --text "A dog ran!")
  "$encode" --model "$fx" "${texts[@]}" --output "$work/pair.out" >"$work/pair.stdout"
  "$kit" compare "$work/pair.out" "$fx/text_pair.expected.safetensors" $tol \
    || fail "--text pair differs from PyTorch"
  grep -q "^tokens\[0\] (14): \[CLS\] the cat sat on the mat . \[SEP\] a dog ran ! \[SEP\]$" \
    "$work/pair.stdout" || fail "tokens not printed: $(cat "$work/pair.stdout")"
  grep -q "^last_hidden_state \[1, 14, 16\]$" "$work/pair.stdout" || fail "no shape printed"
  grep -q "^pooler_output \[1, 16\]$" "$work/pair.stdout" || fail "no pooled shape printed"
  "$encode" --model "$fx" "${texts[@]}" --batch --output "$work/batch.out" >/dev/null
  "$kit" compare "$work/batch.out" "$fx/text_batch.expected.safetensors" $tol \
    || fail "--text --batch differs from PyTorch"
  echo "parity: 5 cases within $tol"
  exit 0
fi

if [ "$what" = errors ]; then
  out=$work/out.safetensors
  # expect <status> <stderr pattern> <args...>: also names the program and leaves no output.
  expect() {
    expect_error "$encode" "$@"
    [[ "$expect_stderr" == "ponet-encode: "* ]] || fail "'$expect_stderr' lacks the program name"
    [ ! -e "$out" ] && [ ! -e "$out.tmp" ] || fail "$*: left $(ls "$work")"
    echo "ok: $expect_stderr"
  }
  good=$fx/sentences.inputs.safetensors
  run=(--model "$fx" --output "$out")

  # Flags
  expect 2 "--model DIR is required"
  expect 2 "unknown flag --nope" --nope
  expect 2 "give either --input FILE or --text TEXT" --model "$fx"
  expect 2 "give either --input FILE or --text TEXT" "${run[@]}" --input "$good" --text hi
  expect 2 "--input needs --output FILE" --model "$fx" --input "$good"
  expect 2 "--threads needs a positive integer, got '0'" "${run[@]}" --input "$good" --threads 0
  expect 2 "--output needs a value" --model "$fx" --input "$good" --output

  # Model directory, config.json, model.safetensors
  expect 1 "config '$work/none/config.json': cannot open" --model "$work/none" --input "$good" \
    --output "$out"
  bad=$(model_with_config '/"hidden_size"/d')
  expect 1 "missing key 'hidden_size'" --model "$bad" --input "$good" --output "$out"
  bad=$(model_with_config 's/"hidden_act": "gelu"/"hidden_act": "relu"/')
  expect 1 "hidden_act 'relu' is not supported" --model "$bad" --input "$good" --output "$out"
  bad=$(model_with_config 's/"num_attention_heads": 2/"num_attention_heads": "2"/')
  expect 1 "key 'num_attention_heads' must be an integer, found string" --model "$bad" \
    --input "$good" --output "$out"
  bad=$(model_with_config 's/"num_attention_heads": 2/"num_attention_heads": 3/')
  expect 1 "num_attention_heads=3 does not divide hidden_size=16" --model "$bad" --input "$good" \
    --output "$out"
  bad=$(model_with_config 's/"intermediate_size": 32/"intermediate_size": 24/')
  expect 1 "has shape [32,16] but the config needs [24,16]" --model "$bad" --input "$good" \
    --output "$out"
  printf '{"hidden_size": ' >"$bad/config.json"
  expect 1 "malformed JSON" --model "$bad" --input "$good" --output "$out"
  bad=$(model_with_config '')
  rm "$bad/model.safetensors"
  "$kit" drop "$fx/model.safetensors" "$bad/model.safetensors" ponet.pooler.dense.bias
  expect 1 "1 missing tensor (names with or without the 'ponet.' prefix): 'pooler.dense.bias'" \
    --model "$bad" --input "$good" --output "$out"
  rm "$bad/model.safetensors"
  "$kit" reshape "$fx/model.safetensors" "$bad/model.safetensors" ponet.pooler.dense.weight 8 32
  expect 1 "tensor 'ponet.pooler.dense.weight' has shape [8,32] but the config needs [16,16]" \
    --model "$bad" --input "$good" --output "$out"
  rm "$bad/model.safetensors"
  expect 1 "model.safetensors: cannot open" --model "$bad" --input "$good" --output "$out"

  # Input files
  expect 1 "$work/missing.safetensors: cannot open" "${run[@]}" --input "$work/missing.safetensors"
  head -c 100 "$good" >"$work/short.safetensors"
  expect 1 "safetensors: $work/short.safetensors: " "${run[@]}" --input "$work/short.safetensors"
  echo "not a safetensors file at all" >"$work/text.safetensors"
  expect 1 "safetensors: $work/text.safetensors: header length" "${run[@]}" \
    --input "$work/text.safetensors"
  edited() {  # edited <name> <testkit command and arguments after IN OUT>
    local name=$1 cmd=$2
    shift 2
    "$kit" "$cmd" "$good" "$work/$name.safetensors" "$@"
    echo "$work/$name.safetensors"
  }
  expect 1 "no tensor 'input_ids'" "${run[@]}" --input "$(edited noids drop input_ids)"
  expect 1 "unknown tensor 'position_ids'" "${run[@]}" --input "$(edited extra add position_ids)"
  expect 1 "tensor 'input_ids' is F32, expected I64" "${run[@]}" \
    --input "$(edited f32 to-f32 input_ids)"
  expect 1 "tensor 'attention_mask' is F32, expected I64" "${run[@]}" \
    --input "$(edited f32mask to-f32 attention_mask)"
  expect 1 "tensor 'input_ids' has shape [64], expected [B, N] with B, N >= 1" "${run[@]}" \
    --input "$(edited flat reshape input_ids 64)"
  expect 1 "tensor 'token_type_ids' has shape [8,8] but input_ids has [4,16]" "${run[@]}" \
    --input "$(edited shape reshape token_type_ids 8 8)"
  expect 1 "input_ids[b=0, i=1] = 200 is outside [0, 200) (vocab_size)" "${run[@]}" \
    --input "$(edited id set input_ids 1 200)"
  expect 1 "input_ids[b=0, i=1] = -5 is outside [0, 200)" "${run[@]}" \
    --input "$(edited negid set input_ids 1 -5)"
  expect 1 "token_type_ids[b=1, i=2] = 2 is outside [0, 2) (type_vocab_size)" "${run[@]}" \
    --input "$(edited type set token_type_ids 18 2)"
  expect 1 "attention_mask[b=0, i=3] = 2 is not 0 or 1" "${run[@]}" \
    --input "$(edited mask set attention_mask 3 2)"
  expect 1 "N=80 tokens exceed max_position_embeddings=64" "${run[@]}" \
    --input "$(edited long tile 5)"
  "$kit" set "$fx/segment_ids.inputs.safetensors" "$work/seg.safetensors" segment_ids 2 0
  expect 1 "segment_ids decrease at [b=0, i=2] (0 after 1)" "${run[@]}" \
    --input "$work/seg.safetensors"

  # Text
  long=$(printf 'the cat %.0s' $(seq 40))
  expect 1 "the input is 82 tokens but the model has 64 positions: pass --max-length 64" \
    "${run[@]}" --text "$long"
  expect 1 "invalid UTF-8" "${run[@]}" --text $'caf\xe9'
  rm "$bad/vocab.txt"
  expect 1 "wordpiece vocab '$bad/vocab.txt': cannot open" --model "$bad" --output "$out" --text hi
  # Output
  expect 1 "cannot create $work/no/dir/out.safetensors.tmp" --model "$fx" --input "$good" \
    --output "$work/no/dir/out.safetensors"
  "$encode" "${run[@]}" --text "$long" --max-length 64 >/dev/null || fail "--max-length failed"
  [ -f "$out" ] || fail "no output with --max-length"
  echo "errors: all one line, no output left behind"
  exit 0
fi
fail "unknown mode '$what'"
