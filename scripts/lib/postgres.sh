# A throwaway PostgreSQL cluster for the tests, sourced by scripts/test.
#
#   pg_cluster_start   installs Debian's PostgreSQL if missing, creates a
#                      cluster in a temporary directory (initdb), starts it on
#                      a free loopback port (pg_ctl, no system service) and
#                      exports what the tests read:
#                        PINLINK_TEST_POSTGRES  admin URL of the cluster
#                        PINLINK_TEST_PG_CTL    "pg_ctl -D DIR" as the owner,
#                                               for the restart test
#   pg_cluster_stop    stops it and removes the directory.

pg_bin_dir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

pg_cluster_start() {
  local bin
  if ! bin=$(pg_bin_dir); then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing PostgreSQL from Debian's packages"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    bin=$(pg_bin_dir) || { echo "PostgreSQL installed but initdb not found" >&2; return 1; }
  fi
  if ! command -v openssl >/dev/null; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openssl >/dev/null
  fi
  PG_CLUSTER_DIR="$(mktemp -d /tmp/pinlink-pg.XXXXXX)"
  # initdb refuses to run as root: run the cluster as the postgres user then.
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PG_CLUSTER_DIR"
    as=(runuser -u postgres --)
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as[@]}" "$bin/initdb" -D "$PG_CLUSTER_DIR/data" -U postgres --auth=trust \
    --no-instructions -E UTF8 >"$PG_CLUSTER_DIR/initdb.log" 2>&1 \
    || { cat "$PG_CLUSTER_DIR/initdb.log" >&2; return 1; }
  # TLS with a throwaway self-signed certificate, so `sslmode=require` is
  # tested for real (plain connections keep working too).
  openssl req -new -x509 -days 2 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$PG_CLUSTER_DIR/data/server.key" -out "$PG_CLUSTER_DIR/data/server.crt" >/dev/null 2>&1 \
    || { echo "openssl could not make a certificate" >&2; return 1; }
  chmod 600 "$PG_CLUSTER_DIR/data/server.key"
  [ "${#as[@]}" -eq 0 ] || chown postgres "$PG_CLUSTER_DIR/data/server.key" "$PG_CLUSTER_DIR/data/server.crt"
  # In the config file, so that a restart (the restart test does one) keeps
  # them. Enough connections for several instances per test, tests in parallel.
  cat >>"$PG_CLUSTER_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PG_CLUSTER_DIR'
max_connections = 300
fsync = on
ssl = on
CONF
  PG_CTL_CMD="${as[*]} $bin/pg_ctl -D $PG_CLUSTER_DIR/data -l $PG_CLUSTER_DIR/server.log -w"
  $PG_CTL_CMD start >/dev/null || { cat "$PG_CLUSTER_DIR/server.log" >&2; return 1; }
  export PINLINK_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
  export PINLINK_TEST_PG_CTL="$PG_CTL_CMD"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') is up at 127.0.0.1:$port (cluster in $PG_CLUSTER_DIR)"
}

pg_cluster_stop() {
  if [ -n "${PG_CLUSTER_DIR:-}" ] && [ -d "$PG_CLUSTER_DIR" ]; then
    $PG_CTL_CMD stop -m fast >/dev/null 2>&1 || true
    rm -rf "$PG_CLUSTER_DIR"
  fi
}
