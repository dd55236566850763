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

# --- certificates ---------------------------------------------------------------------------------------------
# cert NAME CN [O] [SANs]: a key and a certificate signed by the cluster CA.
cert() {
  local name="$1" cn="$2" org="${3:-}" sans="${4:-}" subject="/CN=$2"
  [ -n "$org" ] && subject="/O=$org/CN=$cn"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 30 \
    -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

make_pki() {
  local ip="$1" node="$2"
  mkdir -p "$PKI"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -subj "/CN=customer-intelligence-local-ca" \
    -days 30 -out "$PKI/ca.crt" 2>/dev/null
  cert apiserver kube-apiserver "" \
    "IP:$API_SERVICE_IP,IP:127.0.0.1,IP:$ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert front-proxy-client front-proxy-client
  cert admin kubernetes-admin system:masters
  cert kube-controller-manager system:kube-controller-manager
  cert kube-scheduler system:kube-scheduler
  cert kube-proxy system:kube-proxy
  cert kubelet "system:node:$node" system:nodes "IP:$ip,IP:127.0.0.1,DNS:$node"
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

# kubeconfig FILE USER: a kubeconfig for the client certificate $PKI/USER.{crt,key}.
kubeconfig() {
  local file="$1" user="$2"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster:
      server: https://127.0.0.1:$API_PORT
      certificate-authority: $PKI/ca.crt
users:
  - name: $user
    user:
      client-certificate: $PKI/$user.crt
      client-key: $PKI/$user.key
contexts:
  - name: local
    context: {cluster: local, user: $user}
current-context: local
EOF
}

# --- images -----------------------------------------------------------------------------------------------------
# The add-on images, named as upstream publishes them, made from the binaries of the tool cache.
addon_images() {
  local work coredns_version metrics_version
  coredns_version="${TOOLS[coredns]##*@}"
  metrics_version="${TOOLS[metrics-server]##*@}"
  work="$(mktemp -d)"
  if [ ! -f "$IMAGES_DIR/registry.k8s.io_pause_$PAUSE_VERSION.tar" ]; then
    log "making registry.k8s.io/pause:$PAUSE_VERSION (build/pause/linux/pause.c)"
    local source
    source="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*$/\1/p')"
    mkdir -p "$work/pause"
    gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION" -o "$work/pause/pause" "$source/build/pause/linux/pause.c"
    image_from_rootfs "$work/pause" "registry.k8s.io/pause:$PAUSE_VERSION" --entrypoint '["/pause"]' --user 65535:65535
    save_image "registry.k8s.io/pause:$PAUSE_VERSION"
  fi
  if [ ! -f "$IMAGES_DIR/registry.k8s.io_coredns_coredns_$coredns_version.tar" ]; then
    log "making registry.k8s.io/coredns/coredns:$coredns_version"
    mkdir -p "$work/coredns"
    install -m 0755 "$TOOLS_BIN/coredns" "$work/coredns/coredns"
    # Root inside the container: the manifest drops every capability but NET_BIND_SERVICE (port 53).
    image_from_rootfs "$work/coredns" "registry.k8s.io/coredns/coredns:$coredns_version" --entrypoint '["/coredns"]'
    save_image "registry.k8s.io/coredns/coredns:$coredns_version"
  fi
  if [ ! -f "$IMAGES_DIR/registry.k8s.io_metrics-server_metrics-server_$metrics_version.tar" ]; then
    log "making registry.k8s.io/metrics-server/metrics-server:$metrics_version"
    mkdir -p "$work/metrics-server"
    install -m 0755 "$TOOLS_BIN/metrics-server" "$work/metrics-server/metrics-server"
    image_from_rootfs "$work/metrics-server" "registry.k8s.io/metrics-server/metrics-server:$metrics_version" \
      --entrypoint '["/metrics-server"]' --user 65534:65534
    save_image "registry.k8s.io/metrics-server/metrics-server:$metrics_version"
  fi
  rm -rf "$work"
}

# --- components -------------------------------------------------------------------------------------------------
start_containerd() {
  local restrict_oom=false
  # CAP_SYS_RESOURCE is bit 24 of the effective capabilities.
  (( (0x$(sed -n 's/^CapEff:\t//p' /proc/self/status) >> 24) & 1 )) || restrict_oom=true
  mkdir -p "$CLUSTER_DIR/containerd" "$CLUSTER_DIR/cni/net.d" "$CLUSTER_DIR/cni/ipam"
  cat >"$CLUSTER_DIR/containerd/config.toml" <<EOF
version = 2
root = "$CLUSTER_DIR/containerd/root"
state = "$CLUSTER_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCKET"
[ttrpc]
  address = "$CLUSTER_DIR/containerd/containerd.sock.ttrpc"
[debug]
  address = "$CLUSTER_DIR/containerd/debug.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:$PAUSE_VERSION"
  # Where root lacks CAP_SYS_RESOURCE (a sandboxed VM), no process may lower its oom_score_adj, which runc does
  # for every pod sandbox (-998): keep the pods' scores at or above containerd's own instead of failing them.
  restrict_oom_score_adj = $restrict_oom
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$CLUSTER_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_DIR/cni/net.d"
EOF
  # One bridge for the node's pods; pod traffic leaving the node is masqueraded.
  cat >"$CLUSTER_DIR/cni/net.d/10-customer-intelligence.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "customer-intelligence-local",
  "plugins": [
    {
      "type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {"type": "host-local", "dataDir": "$CLUSTER_DIR/cni/ipam", "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
               "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  start containerd containerd --config "$CLUSTER_DIR/containerd/config.toml"
  wait_for 30 "containerd's socket" containerd ctr --address "$CONTAINERD_SOCKET" version
  local archive
  for archive in "$IMAGES_DIR"/*.tar; do
    [ -f "$archive" ] || continue
    log "importing $(basename "$archive")"
    import_image "$archive"
  done
}

start_etcd() {
  ports_free etcd 2379 2380 2381
  start etcd "$TOOLS_BIN/etcd" --name local --data-dir "$CLUSTER_DIR/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster local=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
    --unsafe-no-fsync --quota-backend-bytes 1073741824
  wait_for 30 "etcd's /health" etcd curl -fsS http://127.0.0.1:2381/health
}

start_apiserver() {
  local ip="$1"
  ports_free kube-apiserver "$API_PORT"
  start kube-apiserver "$TOOLS_BIN/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
    --advertise-address "$ip" --bind-address 0.0.0.0 --secure-port "$API_PORT" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --requestheader-client-ca-file "$PKI/ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --enable-aggregator-routing=true --profiling=false
  wait_for 90 "the API server's /readyz" kube-apiserver kubectl get --raw /readyz
}

start_controllers() {
  kubeconfig "$CLUSTER_DIR/kube-controller-manager.kubeconfig" kube-controller-manager
  kubeconfig "$CLUSTER_DIR/kube-scheduler.kubeconfig" kube-scheduler
  ports_free kube-controller-manager 10257
  ports_free kube-scheduler 10259
  start kube-controller-manager "$TOOLS_BIN/kube-controller-manager" \
    --kubeconfig "$CLUSTER_DIR/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$CLUSTER_DIR/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$CLUSTER_DIR/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$POD_CIDR" --allocate-node-cidrs=false
  start kube-scheduler "$TOOLS_BIN/kube-scheduler" --kubeconfig "$CLUSTER_DIR/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$CLUSTER_DIR/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$CLUSTER_DIR/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false
}

start_kubelet() {
  local ip="$1" node="$2"
  mkdir -p "$CLUSTER_DIR/kubelet"
  kubeconfig "$CLUSTER_DIR/kubelet.kubeconfig" kubelet
  cat >"$CLUSTER_DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCKET
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$DNS_SERVICE_IP]
resolvConf: /etc/resolv.conf
failSwapOn: false
# No registry to pull from: never garbage-collect images, never evict for a nearly full disk of a test machine.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
EOF
  ports_free kubelet 10248 10250
  start kubelet "$TOOLS_BIN/kubelet" --config "$CLUSTER_DIR/kubelet/config.yaml" \
    --kubeconfig "$CLUSTER_DIR/kubelet.kubeconfig" --root-dir "$CLUSTER_DIR/kubelet" \
    --hostname-override "$node" --node-ip "$ip"
  wait_for 120 "node $node to be Ready" kubelet \
    bash -c "'$TOOLS_BIN/kubectl' --kubeconfig '$KUBECONFIG_FILE' get node '$node' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
}

start_proxy() {
  local node="$1"
  kubeconfig "$CLUSTER_DIR/kube-proxy.kubeconfig" kube-proxy
  cat >"$CLUSTER_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $CLUSTER_DIR/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $node
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0}
# 0, not -999: lowering it needs CAP_SYS_RESOURCE, which root lacks on some sandboxed machines.
oomScoreAdj: 0
EOF
  ports_free kube-proxy 10249 10256
  start kube-proxy "$TOOLS_BIN/kube-proxy" --config "$CLUSTER_DIR/kube-proxy.yaml"
  wait_for 30 "kube-proxy's /healthz" kube-proxy curl -fsS http://127.0.0.1:10256/healthz
}

# CoreDNS from the manifest Kubernetes ships (cluster/addons/dns/coredns), metrics-server from its own.
start_addons() {
  local source coredns_version metrics_version
  source="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*$/\1/p')"
  coredns_version="${TOOLS[coredns]##*@}"
  metrics_version="${TOOLS[metrics-server]##*@}"
  sed -e "s/__DNS__DOMAIN__/$CLUSTER_DOMAIN/g" -e "s/__DNS__SERVER__/$DNS_SERVICE_IP/g" \
    -e "s/__DNS__MEMORY__LIMIT__/170Mi/g" \
    -e "s#registry.k8s.io/coredns/coredns:v[0-9.]*#registry.k8s.io/coredns/coredns:$coredns_version#" \
    "$source/cluster/addons/dns/coredns/coredns.yaml.base" >"$CLUSTER_DIR/coredns.yaml"
  kubectl apply -f "$CLUSTER_DIR/coredns.yaml" >/dev/null

  local manifests
  manifests="$(go mod download -json "sigs.k8s.io/metrics-server@$metrics_version" | sed -n 's/.*"Dir": "\(.*\)",*$/\1/p')/manifests"
  rm -rf "$CLUSTER_DIR/metrics-server" && mkdir -p "$CLUSTER_DIR/metrics-server"
  cp -r "$manifests/base" "$manifests/components" "$CLUSTER_DIR/metrics-server/"
  chmod -R u+w "$CLUSTER_DIR/metrics-server"
  # The release image, and the kubelet's serving certificate is not checked (as metrics-server's own test
  # overlay does); a short resolution so the HPA reacts within a test.
  cat >"$CLUSTER_DIR/metrics-server/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [base]
components: [components/release]
images:
  - name: registry.k8s.io/metrics-server/metrics-server
    newTag: $metrics_version
patches:
  - target: {kind: Deployment, name: metrics-server}
    patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/-
        value: --kubelet-insecure-tls
EOF
  # (kustomize warns that metrics-server's own base uses the deprecated commonLabels.)
  kubectl apply -k "$CLUSTER_DIR/metrics-server" 2>&1 >/dev/null | { grep -v "commonLabels. is deprecated" >&2 || true; }
  wait_for 180 "CoreDNS to be ready" "" kubectl -n kube-system rollout status deployment/coredns --timeout=5s
  wait_for 60 "CoreDNS to answer for kubernetes.default" "" node -e "
    const { Resolver } = require('node:dns').promises;
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers(['$DNS_SERVICE_IP']);
    resolver.resolve4('kubernetes.default.svc.$CLUSTER_DOMAIN').then((a) => process.exit(a.includes('$API_SERVICE_IP') ? 0 : 1), () => process.exit(1));"
  wait_for 180 "metrics-server's API" "" kubectl wait --for=condition=Available apiservice/v1beta1.metrics.k8s.io --timeout=5s
}

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
