#!/usr/bin/env bash
# Start an nginx upstream in the background that answers every request with an 11-byte JSON
# body, as the benchmarks' upstream: `scripts/nginx-upstream.sh DIR PORT`. Its config, logs
# and pid file (DIR/upstream.pid, for the caller to kill) live in DIR.
set -euo pipefail
W=$1 PORT=$2
mkdir -p "$W/tmp"
cat >"$W/up.conf" <<CONF
daemon on; master_process on; worker_processes 1;
error_log $W/upstream.err warn; pid $W/upstream.pid;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $W/tmp; proxy_temp_path $W/tmp; fastcgi_temp_path $W/tmp;
  uwsgi_temp_path $W/tmp; scgi_temp_path $W/tmp;
  keepalive_requests 10000000; keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$PORT;
    location / { default_type application/json; return 200 '{"ok":true}'; }
  }
}
CONF
nginx -p "$W" -c "$W/up.conf"
