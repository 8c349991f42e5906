# Test hosts for scripts/test and bench/run: a work folder removed at exit, private Docker
# daemons (own data root, exec root, socket and bridge; published ports on 127.0.0.1), an
# offline test image, TLS material, PostgreSQL and an OpenID provider. Sourced, not run; the
# caller defines log, die and root, and calls setup_work first.

# Installs the Debian packages whose command is missing: ensure_packages cmd:package ...
ensure_packages() {
  local need=() pair cmd pkg
  for pair in "$@"; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    case "$cmd" in
      busybox-static) [ -x /bin/busybox ] && { ldd /bin/busybox 2>&1 || true; } | grep -q "not a dynamic" || need+=("$pkg") ;;
      initdb) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=("$pkg") ;;
      venv) python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=("$pkg") ;;
      fonts) [ -d /usr/share/fonts/truetype/dejavu ] || need+=("$pkg") ;;
      *) command -v "$cmd" >/dev/null || need+=("$pkg") ;;
    esac
  done
  if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing packages (${need[*]}); run as root to install them, or install them yourself"
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  [ "$(id -u)" -eq 0 ] || die "the test hosts are private Docker daemons, which need root"
}

setup_work() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$work"  # the postgres user must reach its cluster inside
  trap cleanup EXIT INT TERM
}

# ---------------------------------------------------------------- work folder and cleanup
pids=()
bridges=()
namespaces=()

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

cleanup() {
  local rc=$?
  set +e
  for d in "$work"/docker*; do
    [ -f "$d/pid" ] || continue
    local pid; pid=$(cat "$d/pid")
    # Containers first, so the daemon can stop quickly.
    docker -H "unix://$d/docker.sock" ps -aq 2>/dev/null | xargs -r docker -H "unix://$d/docker.sock" rm -f >/dev/null 2>&1
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    # Docker leaves its networks' bridges behind when it stops: they would hold the pool's
    # subnets for ever, and later daemons find no free address pool.
    [ -f "$d/pool" ] && remove_bridges_in "$(cat "$d/pool")"
  done
  for f in "$work"/registry/pid-*; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  [ -n "$registry_certs" ] && rm -rf "$registry_certs"
  [ -f "$work/oidc.pid" ] && kill "$(cat "$work/oidc.pid")" 2>/dev/null
  [ -f "$work/smtp.pid" ] && kill "$(cat "$work/smtp.pid")" 2>/dev/null
  [ -f "$work/chromedriver.pid" ] && kill -- -"$(cat "$work/chromedriver.pid")" 2>/dev/null
  for p in "$work"/pg*; do
    [ -f "$p/data/postmaster.pid" ] && runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$p/data" -m immediate stop >/dev/null 2>&1
  done
  for b in "${bridges[@]}"; do ip link del "$b" 2>/dev/null; done
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  # Anything a daemon left mounted under the work folder must go before the folder does.
  grep -o " $work[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
  exit $rc
}

# Deletes the Docker bridges (br-*) whose address lies in the given subnet.
remove_bridges_in() {
  ip -o -4 addr show | python3 -c '
import ipaddress, sys
pool = ipaddress.ip_network(sys.argv[1])
for line in sys.stdin:
    f = line.split()
    if f[1].startswith("br-") and ipaddress.ip_interface(f[3]).ip in pool:
        print(f[1])
' "$1" | xargs -r -n1 ip link del 2>/dev/null || true
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- PostgreSQL
# start_postgres [name] [variable]: a throwaway cluster in $work/<name> (default pg) whose URL
# goes to <variable> (default WHARF_TEST_PG_URL). $work/<name>/restart restarts it (the
# fault-injection suite restarts its own cluster under load).
start_postgres() {
  local name=${1:-pg} var=${2:-WHARF_TEST_PG_URL}
  local dir="$work/$name" port
  install -d -o postgres -g postgres "$dir"
  port=$(free_port)
  runuser -u postgres -- "$(pg_bin)/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 >/dev/null
  local ctl; ctl="$(pg_bin)/pg_ctl"
  local opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
  runuser -u postgres -- "$ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -o "$opts" start >/dev/null \
    || { cat "$dir/log" >&2; die "PostgreSQL ($name) did not start"; }
  printf '#!/usr/bin/env bash\nexec runuser -u postgres -- %q -D %q -l %q -w -t 60 -m fast -o %q restart >/dev/null\n' \
    "$ctl" "$dir/data" "$dir/log" "$opts" >"$dir/restart"
  chmod +x "$dir/restart"
  export "$var=postgres://postgres@127.0.0.1:$port/postgres"
  log "PostgreSQL ($name) on 127.0.0.1:$port"
}

# ---------------------------------------------------------------- Docker test hosts
# Each daemon gets its own bridge, subnet and address pool, so the two never touch each
# other's (or the machine's) networks. iptables is off: published ports go through
# docker-proxy on 127.0.0.1, which is all the tests reach.
start_docker() {
  # The address published ports bind to: each daemon its own loopback address, so that two
  # daemons picking the same free port never collide (both allocate from one port range).
  local n=$1 subnet=$2 pool=$3 tcp_port=${4:-} tls_port=${5:-} bind_ip=${6:-127.0.0.1}
  local d="$work/docker$n" br="wharft$n-$$"
  br=${br:0:15}
  mkdir -p "$d"
  echo "$pool" >"$d/pool"
  # Left by an earlier run that was killed before its cleanup.
  remove_bridges_in "$pool"
  ip link add name "$br" type bridge
  bridges+=("$br")
  ip addr add "$subnet" dev "$br"
  ip link set "$br" up
  local hosts=(-H "unix://$d/docker.sock")
  [ -n "$tcp_port" ] && hosts+=(-H "tcp://127.0.0.1:$tcp_port")
  if [ -n "$tls_port" ]; then
    hosts+=(-H "tcp://127.0.0.1:$tls_port" --tlsverify --tlscacert "$work/tls/ca.pem"
            --tlscert "$work/tls/server.pem" --tlskey "$work/tls/server-key.pem")
  fi
  # The daemon is started by a script of its own, which the fault-injection suite runs again
  # after it killed the daemon (same data root, socket, bridge and flags).
  {
    echo '#!/usr/bin/env bash'
    printf 'd=%q\n' "$d"
    printf 'setsid dockerd'; printf ' %q' --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/pid" "${hosts[@]}" \
      --bridge "$br" --iptables=false --ip-masq=false --ip "$bind_ip" \
      --default-address-pool "base=$pool,size=27" \
      --containerd-namespace "wharf-test-$n" --containerd-plugins-namespace "wharf-test-$n-plugins"
    echo ' >>"$d/log" 2>&1 </dev/null &'
    cat <<'SCRIPT'
pid=$!
for _ in $(seq 1 150); do
  docker -H "unix://$d/docker.sock" version >/dev/null 2>&1 && exit 0
  kill -0 $pid 2>/dev/null || { tail -20 "$d/log" >&2; echo "dockerd exited" >&2; exit 1; }
  sleep 0.2
done
tail -20 "$d/log" >&2; echo "dockerd did not answer" >&2; exit 1
SCRIPT
  } >"$d/start"
  chmod +x "$d/start"
  "$d/start" || die "dockerd $n did not start"
  docker -H "unix://$d/docker.sock" import -c 'CMD ["/bin/sh"]' "$work/busybox.tar" wharf-test/busybox:latest >/dev/null
}

# start_swarm N SUBNET POOL: a private daemon in a network namespace of its own, made a
# single-node Docker Swarm (manager) on the namespace's loopback. Swarm publishes host-mode
# ports on every interface (a service port takes no host address): in the namespace, that is
# its loopback and its own bridge only. Wharf reaches the daemon through its unix socket; the
# tests reach published ports inside the namespace (WHARF_TEST_SWARM_NETNS).
start_swarm() {
  local n=$1 subnet=$2 pool=$3 overlay=$4
  local d="$work/docker$n" ns="wharf-swarm$n-$$" br="wharfs$n"
  mkdir -p "$d"
  ip netns add "$ns"
  namespaces+=("$ns")
  echo "$ns" >"$d/netns"
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip link add name "$br" type bridge
  ip netns exec "$ns" ip addr add "$subnet" dev "$br"
  ip netns exec "$ns" ip link set "$br" up
  setsid nsenter --net="/var/run/netns/$ns" dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/pid" -H "unix://$d/docker.sock" \
    --bridge "$br" --iptables=false --ip-masq=false --ip 127.0.0.1 --default-address-pool "base=$pool,size=27" \
    --containerd-namespace "wharf-test-$n" --containerd-plugins-namespace "wharf-test-$n-plugins" >>"$d/log" 2>&1 </dev/null &
  local pid=$!
  for _ in $(seq 1 150); do
    docker -H "unix://$d/docker.sock" version >/dev/null 2>&1 && break
    kill -0 $pid 2>/dev/null || { tail -20 "$d/log" >&2; die "dockerd $n (swarm) exited"; }
    sleep 0.2
  done
  docker -H "unix://$d/docker.sock" version >/dev/null 2>&1 || { tail -20 "$d/log" >&2; die "dockerd $n (swarm) did not answer"; }
  docker -H "unix://$d/docker.sock" swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 \
    --default-addr-pool "$overlay" --default-addr-pool-mask-length 24 >/dev/null || die "docker swarm init failed on dockerd $n"
  docker -H "unix://$d/docker.sock" import -c 'CMD ["/bin/sh"]' "$work/busybox.tar" wharf-test/busybox:latest >/dev/null
}

make_test_image() {
  local fs="$work/busybox-rootfs"
  mkdir -p "$fs/bin" "$fs/tmp" "$fs/etc" "$fs/www"
  cp /bin/busybox "$fs/bin/busybox"
  for applet in $("$fs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$fs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$fs/etc/passwd"
  echo 'root:x:0:' >"$fs/etc/group"
  echo 'wharf test image' >"$fs/www/index.html"
  tar -C "$fs" -cf "$work/busybox.tar" .
}

# A CA, a server certificate for 127.0.0.1, a client certificate it signed, and a client
# certificate from another CA (which the daemon must refuse).
make_tls() {
  local t="$work/tls"
  mkdir -p "$t"
  (
    cd "$t"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wharf-test-ca" -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server-key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=wharf" -keyout key.pem -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out cert.pem 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=someone-else" -keyout bad-key.pem -out bad-cert.pem 2>/dev/null
  ) || die "openssl could not make the test certificates"
}

# ---------------------------------------------------------------- SMTP server
# aiosmtpd, pinned by tests/smtp/requirements.txt, on 127.0.0.1: it writes each message it
# accepts to a folder as JSON (tests/smtp/server.py), which the tests read. Needs make_tls first.
start_smtp() {
  local venv="$root/tests/smtp/.venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/pip" freeze 2>/dev/null | diff -q - tests/smtp/requirements.txt >/dev/null; then
    log "installing the test SMTP server (aiosmtpd, pinned by tests/smtp/requirements.txt)"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed"
    "$venv/bin/pip" install -q --disable-pip-version-check -r tests/smtp/requirements.txt || die "pip install aiosmtpd failed"
  fi
  local port; port=$(free_port)
  mkdir -p "$work/mail"
  # STARTTLS with the test CA's certificate for 127.0.0.1 (make_tls), and AUTH.
  "$venv/bin/python" tests/smtp/server.py "$port" "$work/mail" "$work/tls/server.pem" "$work/tls/server-key.pem" >"$work/smtp.log" 2>&1 &
  echo $! >"$work/smtp.pid"
  for _ in $(seq 1 100); do
    grep -q "test SMTP server" "$work/smtp.log" 2>/dev/null && break
    kill -0 "$(cat "$work/smtp.pid")" 2>/dev/null || { cat "$work/smtp.log" >&2; die "the test SMTP server exited"; }
    sleep 0.1
  done
  grep -q "test SMTP server" "$work/smtp.log" || { cat "$work/smtp.log" >&2; die "the test SMTP server did not start"; }
  export WHARF_TEST_SMTP="127.0.0.1:$port"
  export WHARF_TEST_MAIL_DIR="$work/mail"
  log "SMTP server on $WHARF_TEST_SMTP"
}

# ---------------------------------------------------------------- browser
# Debian's chromedriver on 127.0.0.1, in a process group of its own (the Chromium it starts
# for a session goes with it at the end). The browser tests start Chromium through it,
# headless and kept off the network but for loopback (tests/api/browser.rs).
start_chromedriver() {
  local port; port=$(free_port)
  setsid chromedriver --port="$port" --allowed-ips=127.0.0.1 --log-path="$work/chromedriver.log" >/dev/null 2>&1 </dev/null &
  echo $! >"$work/chromedriver.pid"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/status" >/dev/null 2>&1 && break
    kill -0 "$(cat "$work/chromedriver.pid")" 2>/dev/null || { tail -20 "$work/chromedriver.log" >&2; die "chromedriver exited"; }
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/status" >/dev/null 2>&1 || die "chromedriver did not answer"
  export WHARF_TEST_WEBDRIVER="http://127.0.0.1:$port"
  log "chromedriver on $WHARF_TEST_WEBDRIVER ($(chromium --version 2>/dev/null))"
}

# ---------------------------------------------------------------- OpenID provider
# panva's oidc-provider, pinned by tests/oidc/package-lock.json, on 127.0.0.1. Its users and
# their groups are read from a JSON file that the tests write.
start_oidc() {
  if [ ! -f tests/oidc/node_modules/oidc-provider/package.json ]; then
    log "installing the test OpenID provider (npm ci)"
    (cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in tests/oidc failed"
  fi
  local port; port=$(free_port)
  echo '{}' >"$work/oidc-users.json"
  node tests/oidc/provider.mjs "$port" "$work/oidc-users.json" >"$work/oidc.log" 2>&1 &
  echo $! >"$work/oidc.pid"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/.well-known/openid-configuration" >/dev/null 2>&1 && break
    kill -0 "$(cat "$work/oidc.pid")" 2>/dev/null || { cat "$work/oidc.log" >&2; die "the OpenID provider exited"; }
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/.well-known/openid-configuration" >/dev/null || { cat "$work/oidc.log" >&2; die "the OpenID provider did not answer"; }
  export WHARF_TEST_OIDC_ISSUER="http://127.0.0.1:$port"
  export WHARF_TEST_OIDC_USERS="$work/oidc-users.json"
  log "OpenID provider on $WHARF_TEST_OIDC_ISSUER"
}


# ---------------------------------------------------------------- a private registry
# start_registry: Debian's docker-registry (the distribution registry) with htpasswd
# authentication and TLS from a CA of its own, in a network namespace of its own reached over a
# veth pair (10.249.0.1 here, 10.249.0.2 there). Not on 127.0.0.1: Docker treats every
# loopback registry as insecure and would never check its certificate. It serves on two ports
# with one certificate: :5000, whose CA the test daemons trust (/etc/docker/certs.d, which
# every daemon of this machine reads, removed at the end), and :5001, whose they do not. The test
# image is pushed to it as team-a/hello:1 and team-b/other:1, then removed from the pushing
# daemon. Needs make_test_image and a started daemon 1.
registry_certs=""
start_registry() {
  local r="$work/registry" ns="wharf-reg-$$" veth="wharfrv$$"
  veth=${veth:0:15}
  local address=10.249.0.2
  mkdir -p "$r/data" "$r/client"
  (
    cd "$r"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wharf-test-registry-ca" -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$address" -keyout server-key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$address" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
  ) || die "openssl could not make the registry's certificates"
  local user=wharf-puller password
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
  htpasswd -Bbn "$user" "$password" >"$r/htpasswd" 2>/dev/null || die "htpasswd failed"
  ip netns add "$ns"
  namespaces+=("$ns")
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  bridges+=("$veth")
  ip addr add 10.249.0.1/30 dev "$veth"
  ip link set "$veth" up
  ip netns exec "$ns" ip addr add "$address/30" dev eth0
  ip netns exec "$ns" ip link set eth0 up
  ip netns exec "$ns" ip link set lo up
  local port
  for port in 5000 5001; do
    cat >"$r/config-$port.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $r/data
  delete:
    enabled: true
http:
  addr: $address:$port
  secret: wharf-test-registry
  tls:
    certificate: $r/server.pem
    key: $r/server-key.pem
auth:
  htpasswd:
    realm: wharf-test-registry
    path: $r/htpasswd
CONFIG
    ip netns exec "$ns" docker-registry serve "$r/config-$port.yml" >>"$r/log-$port" 2>&1 </dev/null &
    echo $! >"$r/pid-$port"
  done
  registry_certs="/etc/docker/certs.d/$address:5000"
  mkdir -p "$registry_certs"
  cp "$r/ca.pem" "$registry_certs/ca.crt"
  for _ in $(seq 1 100); do
    curl -s -o /dev/null --cacert "$r/ca.pem" "https://$address:5000/v2/" && curl -sk -o /dev/null "https://$address:5001/v2/" && break
    sleep 0.1
  done
  curl -s -o /dev/null --cacert "$r/ca.pem" "https://$address:5000/v2/" || { cat "$r/log-5000" >&2; die "the test registry did not answer"; }
  local dock=(docker --config "$r/client" -H "unix://$work/docker1/docker.sock")
  printf '%s' "$password" | "${dock[@]}" login -u "$user" --password-stdin "$address:5000" >/dev/null 2>&1 \
    || die "docker login to the test registry failed"
  local image
  for image in team-a/hello:1 team-b/other:1; do
    "${dock[@]}" tag wharf-test/busybox:latest "$address:5000/$image"
    "${dock[@]}" push "$address:5000/$image" >/dev/null || die "docker push $image to the test registry failed"
    "${dock[@]}" rmi "$address:5000/$image" >/dev/null
  done
  export WHARF_TEST_REGISTRY="$address:5000" WHARF_TEST_REGISTRY_UNTRUSTED="$address:5001"
  export WHARF_TEST_REGISTRY_USER="$user" WHARF_TEST_REGISTRY_PASSWORD="$password" WHARF_TEST_REGISTRY_CA="$r/ca.pem"
  log "registry on $address:5000 (TLS, htpasswd; :5001 untrusted) in network namespace $ns"
}
