#!/usr/bin/env bash
# imi check reads every section an application would ([uid], [retry], [breaker],
# [ratelimit] and their .NAME forms), naming file:line of each typo; one-shot commands on
# an in-process driver say so; a missing config says how to name one.
#   tests/unit/cli_sections.sh IMI
set -u
imi=$(realpath "$1")
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/app.ini" <<'INI'
[log]
level = error
[cache]
driver = mem
[coord]
driver = mem
[uid]
epoch = 2024-01-01
[uid.orders]
max_clock_bak = 1s
[retry]
max_attempts = 3
[retry.fast]
initial = soon
[breaker]
open_for = 5s
[breaker.db]
failure_ratio = lots
[ratelimit]
rule.login = 10/s burst 20
[ratelimit.api]
rule.send = ten per second
[service]
name = chat
INI
out=$(timeout 60 "$imi" check -c "$tmp/app.ini" 2>&1); rc=$?
echo "$out"
[ $rc = 1 ] || fail "exit code $rc, expected 1"
want() { grep -qF -- "$1" <<<"$out" || fail "missing: $1"; }
want "ok   [uid] worker id"
want "FAIL [uid.orders] $tmp/app.ini:10: unknown key 'max_clock_bak'"
want "ok   [retry] max_attempts 3"
want "FAIL [retry.fast] $tmp/app.ini:14: initial"
want "FAIL [breaker] $tmp/app.ini:18: failure_ratio = 'lots'"
want "ok   [ratelimit] rules parsed"
want "FAIL [ratelimit.api] $tmp/app.ini:22: rule.send"
want "2 component(s) checked, 0 failed; 7 other section(s) checked, 4 failed"

# The same config without the typos passes.
sed -i -e '/max_clock_bak/d' -e 's/initial = soon/initial = 50ms/' -e 's/= lots/= 0.5/' \
    -e 's/ten per second/10\/s/' "$tmp/app.ini"
out=$(timeout 60 "$imi" check -c "$tmp/app.ini" 2>&1) || fail "a clean config failed: $out"

# In-process drivers: a note on stderr, never on stdout; none for a file-backed sqlite.
printf '[log]\nlevel = error\n[cache]\ndriver = mem\n[db]\ndriver = sqlite\npath = %s/x.db\n' \
    "$tmp" >"$tmp/mem.ini"
err=$("$imi" cache -c "$tmp/mem.ini" set k v 2>&1 >"$tmp/stdout") || fail "cache set failed: $err"
grep -qF "note: [cache] uses the in-process driver mem" <<<"$err" || fail "no in-process note: $err"
[ ! -s "$tmp/stdout" ] || fail "the note went to stdout"
err=$("$imi" db -c "$tmp/mem.ini" exec "create table t (a int)" 2>&1 >/dev/null) \
    || fail "db exec failed: $err"
grep -q "in-process" <<<"$err" && fail "note for a sqlite file: $err"

# A missing config names -c, $IMI_CONFIG and the installed examples.
err=$(cd "$tmp" && IMI_CONFIG= "$imi" check 2>&1); rc=$?
[ $rc = 1 ] || fail "missing config: exit $rc"
grep -q -- "-c FILE or \$IMI_CONFIG" <<<"$err" || fail "missing config: $err"
grep -q "example configs are installed in /" <<<"$err" || fail "no example dir: $err"
# One prefix per layer: "uid: open [uid]: taking a worker id", never "...: uid: taking".
printf '[log]\nlevel = off\n[service]\nname = svc\n[coord]\ndriver = etcd\nendpoints = http://127.0.0.1:1\ntimeout = 1s\n[uid]\ntimeout = 1s\n' \
    >"$tmp/uid.ini"
err=$(timeout 30 "$imi" uid -c "$tmp/uid.ini" next 2>&1) && fail "uid next worked without etcd"
grep -qF "imi: uid: open [uid]: taking a worker id of service" <<<"$err" || fail "uid error: $err"
grep -q "uid: open \[uid\]: uid:" <<<"$err" && fail "doubled prefix: $err"
echo "cli_sections: ok"
