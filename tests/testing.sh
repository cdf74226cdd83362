# Shell helpers for ponet's end-to-end tests (sourced by tests/*/test_*.sh).

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_error <program> <status> <stderr pattern> <args...>: the program, run with the args,
# exits with <status> and prints exactly one line on stderr, which contains the pattern (a fixed
# string). The line is left in $expect_stderr for further checks.
expect_error() {
  local program=$1 status=$2 pattern=$3
  shift 3
  local err
  err=$(mktemp)
  set +e
  "$program" "$@" >/dev/null 2>"$err"
  local got=$?
  set -e
  expect_stderr=$(cat "$err")
  rm -f "$err"
  [ "$got" -eq "$status" ] || fail "$* exited $got, expected $status: $expect_stderr"
  [ "$(printf '%s\n' "$expect_stderr" | wc -l)" -eq 1 ] && [ -n "$expect_stderr" ] ||
    fail "$* printed not one line: $expect_stderr"
  printf '%s' "$expect_stderr" | grep -qF -- "$pattern" || fail "$*: '$expect_stderr' lacks '$pattern'"
}
