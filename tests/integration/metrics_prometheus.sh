#!/usr/bin/env bash
# A real Prometheus scrapes metrics_serve's [metrics] endpoint; its HTTP query API must
# then show the cache calls the program made and a histogram quantile. promtool checks
# the text format, from the file and from the endpoint. Ports: $IMI_METRICS_PORT (app,
# default 26090) and the next one (Prometheus). Storage in a temp dir; all stopped by trap.
#   metrics_prometheus.sh METRICS_SERVE IMI
set -euo pipefail
serve=$1
imi=$2
app_port=${IMI_METRICS_PORT:-26090}
prom_port=$((app_port + 1))
for tool in prometheus promtool curl jq; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (tools/deps.sh servers)"; exit 1; }
done
tmp=$(mktemp -d /tmp/imi-metrics-prom.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/prom.log" ] && tail -20 "$tmp/prom.log"; exit 1; }

cat > "$tmp/app.ini" <<INI
[log]
level = warn
[metrics]
listen = 127.0.0.1:$app_port
duration_sample = 1
[cache.sessions]
driver = mem
INI
"$serve" "$tmp/app.ini" "$tmp/metrics.txt" 120 > "$tmp/serve.out" 2> "$tmp/serve.err" &
pids+=($!)
for _ in $(seq 100); do grep -q ready "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
grep -q "ready port=$app_port" "$tmp/serve.out" || fail "metrics_serve did not start: $(cat "$tmp/serve.err")"

promtool check metrics < "$tmp/metrics.txt" || fail "promtool refused imi_metrics_write's output"
curl -sf "http://127.0.0.1:$app_port/metrics" > "$tmp/scraped.txt" || fail "GET /metrics failed"
promtool check metrics < "$tmp/scraped.txt" || fail "promtool refused the endpoint's output"
echo "ok   promtool check metrics (file and endpoint)"
# The live view of the CLI is the same format.
"$imi" stats -c "$tmp/app.ini" --list-metrics > /dev/null
printf '[log]\nlevel = off\n[cache.sessions]\ndriver = mem\n' > "$tmp/stats.ini"
"$imi" stats -c "$tmp/stats.ini" | promtool check metrics || fail "promtool refused imi stats"

cat > "$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: imi
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:$app_port']
YML
promtool check config "$tmp/prometheus.yml" > /dev/null || fail "promtool refused the scrape config"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn > "$tmp/prom.log" 2>&1 &
pids+=($!)

api="http://127.0.0.1:$prom_port/api/v1/query"
# One instant query: the first sample's value, or "" when there is none yet.
query() { curl -sf --max-time 2 -G "$api" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // ""' 2>/dev/null || true; }

sets=""
for _ in $(seq 60); do
    sets=$(query 'imi_cache_calls_total{instance="sessions",driver="mem",op="set",code="ok"}')
    [ -n "$sets" ] && break
    sleep 0.5
done
[ -n "$sets" ] || fail "no scrape of imi_cache_calls_total within 30 s"
[ "$sets" = 10 ] || fail "set calls: want 10, Prometheus has $sets"
misses=$(query 'imi_cache_calls_total{instance="sessions",op="get",code="notfound"}')
[ "$misses" = 3 ] || fail "get misses: want 3, Prometheus has '$misses'"
hits=$(query 'imi_cache_hits_total{instance="sessions"}')
[ "$hits" = 7 ] || fail "hits: want 7, Prometheus has '$hits'"
q=$(query 'histogram_quantile(0.9, sum by (le) (imi_cache_call_duration_seconds_bucket{instance="sessions",op="get"}))')
awk -v q="$q" 'BEGIN { exit !(q ~ /^[0-9.eE+-]+$/ && q + 0 > 0 && q + 0 <= 10) }' ||
    fail "histogram_quantile over the get buckets: want a number in (0, 10], got '$q'"
up=$(query 'up{job="imi"}')
[ "$up" = 1 ] || fail "up{job=imi}: want 1, got '$up'"
echo "ok   Prometheus scraped: set=$sets get notfound=$misses hits=$hits p90(get)=${q}s"
