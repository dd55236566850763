#!/usr/bin/env bash
# A single-node Kubernetes cluster from upstream parts, for trying the chart and for `npm run test:cluster`.
#
#   scripts/cluster.sh up       start it (builds what is missing first); waits for a Ready node and CoreDNS
#   scripts/cluster.sh status   what runs, by component, and the node
#   scripts/cluster.sh down     stop exactly what `up` started, remove its network interfaces and its state
#   scripts/cluster.sh env      the line to paste: export KUBECONFIG=...
#
# etcd, the Kubernetes binaries, CoreDNS, metrics-server and crictl are built from the Go module proxy into the
# tool cache (scripts/tools.sh cluster; versions in scripts/versions.sh); containerd, runc, the CNI plugins,
# iptables and conntrack come from Debian. The add-on images (pause, CoreDNS, metrics-server) are made locally
# from those binaries, since no image registry is reachable; `npm run image` makes the server's. Certificates
# and kubeconfigs are generated per run. All state lives in $CLUSTER_DIR (default
# ${TMPDIR:-/tmp}/customer-intelligence-cluster): pids, logs, certificates, etcd, containerd, the kubelet.
# Needs root (containers, iptables, mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/versions.sh
source scripts/versions.sh
# shellcheck source=scripts/lib/oci.sh
source scripts/lib/oci.sh

KUBE_VERSION="${TOOLS[kubernetes]##*@}"
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
CNI_BRIDGE=ci-cni0
CLUSTER_DOMAIN=cluster.local
API_PORT=6443
PKI="$CLUSTER_DIR/pki"
LOGS="$CLUSTER_DIR/logs"
PIDS="$CLUSTER_DIR/pids"
KUBECONFIG_FILE="$CLUSTER_DIR/kubeconfig"
# Start order; `down` stops them in reverse.
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

log() { echo "cluster: $*" >&2; }
die() {
  log "$*"
  exit 1
}
kubectl() { "$TOOLS_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
crictl() { "$TOOLS_BIN/crictl" --runtime-endpoint "unix://$CONTAINERD_SOCKET" "$@"; }

running() {
  local pid
  pid="$(cat "$PIDS/$1.pid" 2>/dev/null)" || return 1
  kill -0 "$pid" 2>/dev/null
}

# Waits until "$2..." succeeds, at most $1 seconds, while component $3 (if given) keeps running.
wait_for() {
  local timeout="$1" what="$2" component="$3" deadline=$((SECONDS + $1))
  shift 3
  until "$@" >/dev/null 2>&1; do
    if [ -n "$component" ] && ! running "$component"; then
      log "$component exited while waiting for $what; the end of $LOGS/$component.log:"
      tail -n 25 "$LOGS/$component.log" >&2 || true
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      log "timed out after ${timeout}s waiting for $what"
      [ -n "$component" ] && { tail -n 25 "$LOGS/$component.log" >&2 || true; }
      exit 1
    fi
    sleep 1
  done
}

# Fails naming component $1 when one of its TCP ports (the rest) is taken: its health check would otherwise be
# answered by whoever holds the port (another cluster, say).
ports_free() {
  local name="$1" port holder
  shift
  for port in "$@"; do
    holder="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 1)"
    [ -z "$holder" ] || die "$name cannot start: port $port is already in use (${holder##* }); another cluster? (scripts/cluster.sh status)"
  done
}

# Starts component $1 as "$2 ..." in its own session, logging to $LOGS/$1.log.
start() {
  local name="$1"
  shift
  log "starting $name"
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

node_ip() {
  ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n 1
}

# shellcheck source=scripts/lib/cluster-pki.sh
source scripts/lib/cluster-pki.sh
# shellcheck source=scripts/lib/cluster-components.sh
source scripts/lib/cluster-components.sh

# --- commands ---------------------------------------------------------------------------------------------------
up() {
  [ "$(id -u)" = 0 ] || die "needs root (containers, iptables, mounts)"
  if [ -d "$PIDS" ]; then
    if running kube-apiserver; then
      log "already running ($CLUSTER_DIR); 'scripts/cluster.sh down' first to start afresh"
      return 0
    fi
    log "a previous cluster's state is left in $CLUSTER_DIR; cleaning it up first"
    down
  fi
  local started=$SECONDS ip node tool
  ip="$(node_ip)"
  [ -n "$ip" ] || die "no IPv4 address with a default route: the node needs one"
  node="$(hostname | tr '[:upper:]' '[:lower:]')"
  ensure_debian_packages "${CLUSTER_DEBIAN_PACKAGES[@]}" "${IMAGE_DEBIAN_PACKAGES[@]}" curl
  for tool in containerd runc iptables conntrack buildah gcc openssl; do
    command -v "$tool" >/dev/null || die "$tool is missing (the Debian packages above should have brought it)"
  done
  [ -x /usr/lib/cni/bridge ] || die "the CNI plugins are missing: /usr/lib/cni/bridge (Debian containernetworking-plugins)"
  scripts/tools.sh cluster
  mkdir -p "$LOGS" "$PIDS"
  addon_images

  # Pod traffic is routed by the node and bridged pod-to-pod traffic must pass iptables (Services).
  sysctl -n net.ipv4.ip_forward >"$CLUSTER_DIR/ip_forward.before"
  sysctl -qw net.ipv4.ip_forward=1
  modprobe br_netfilter 2>/dev/null || true
  [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] ||
    die "the kernel has no br_netfilter (/proc/sys/net/bridge): Services would not work between pods"
  sysctl -qw net.bridge.bridge-nf-call-iptables=1

  make_pki "$ip" "$node"
  kubeconfig "$KUBECONFIG_FILE" admin
  # What clients of the cluster need to know (test/helpers/cluster.ts reads it).
  printf '%s\n' "KUBECONFIG=$KUBECONFIG_FILE" "KUBE_VERSION=$KUBE_VERSION" "NODE_NAME=$node" "NODE_IP=$ip" \
    "POD_CIDR=$POD_CIDR" "SERVICE_CIDR=$SERVICE_CIDR" "CONTAINERD_SOCKET=$CONTAINERD_SOCKET" >"$CLUSTER_DIR/cluster.env"
  start_containerd
  start_etcd
  start_apiserver "$ip"
  start_controllers
  start_kubelet "$ip" "$node"
  start_proxy "$node"
  start_addons
  log "up in $((SECONDS - started)) s: Kubernetes $KUBE_VERSION, node $node ($ip)"
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
}

stop_pid() {
  local name="$1" pid deadline
  pid="$(cat "$PIDS/$name.pid" 2>/dev/null)" || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "$name did not stop on SIGTERM; killing it"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$PIDS/$name.pid"
}

# The iptables chains the kubelet makes (kube-proxy --cleanup removes kube-proxy's), in every table, v4 and v6.
remove_kubelet_chains() {
  local cmd table chain rule
  for cmd in iptables ip6tables; do
    for table in filter nat mangle; do
      { "$cmd" -t "$table" -S 2>/dev/null || true; } | { grep -E -- '-j KUBE-(FIREWALL|KUBELET-CANARY)$' || true; } |
        sed 's/^-A /-D /' | while read -r rule; do eval "$cmd -t $table $rule" 2>/dev/null || true; done
      for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
        "$cmd" -t "$table" -F "$chain" 2>/dev/null && "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

down() {
  [ -d "$CLUSTER_DIR" ] || { log "nothing to stop ($CLUSTER_DIR does not exist)"; return 0; }
  local i had_kubelet=false had_proxy=false
  # Only what this cluster's `up` got as far as starting is undone (a second, failed `up` elsewhere must not
  # touch a running cluster's network): the node's network state belongs to the kubelet and kube-proxy.
  [ -f "$PIDS/kubelet.pid" ] && had_kubelet=true
  [ -f "$PIDS/kube-proxy.pid" ] && had_proxy=true
  # The kubelet first, so nothing restarts the pods; then every pod sandbox through the CRI, which runs each
  # pod's CNI teardown (veth, IP, iptables rules), while containerd still runs.
  stop_pid kube-proxy
  stop_pid kubelet
  if $had_kubelet && running containerd && [ -x "$TOOLS_BIN/crictl" ]; then
    crictl stopp $(crictl pods -q 2>/dev/null) >/dev/null 2>&1 || true
    crictl rmp --all --force >/dev/null 2>&1 || true
  fi
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_pid "${COMPONENTS[$i]}"; done
  # Shims of containers containerd could not stop (they outlive containerd by design): only those of this
  # cluster, which name its socket on their command line.
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCKET" 2>/dev/null || true
  if $had_proxy; then "$TOOLS_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  if $had_kubelet; then
    remove_kubelet_chains
    ip link delete "$CNI_BRIDGE" 2>/dev/null || true
  fi
  # Mounts left under the state folder (overlay snapshots, pod volumes), deepest first.
  awk -v dir="$CLUSTER_DIR" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mount; do
    umount -l "$mount" 2>/dev/null || true
  done
  if [ -f "$CLUSTER_DIR/ip_forward.before" ]; then sysctl -qw "net.ipv4.ip_forward=$(cat "$CLUSTER_DIR/ip_forward.before")"; fi
  rm -rf "$CLUSTER_DIR"
  log "down: stopped and removed $CLUSTER_DIR"
}

status() {
  local name state=0
  [ -d "$PIDS" ] || { echo "no cluster ($CLUSTER_DIR)"; return 3; }
  for name in "${COMPONENTS[@]}"; do
    if running "$name"; then echo "$name: running (pid $(cat "$PIDS/$name.pid"))"; else echo "$name: stopped" && state=3; fi
  done
  running kube-apiserver && kubectl get nodes -o wide
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
  return $state
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$KUBECONFIG_FILE" ;;
  *)
    echo "usage: scripts/cluster.sh up|down|status|env" >&2
    exit 2
    ;;
esac
