# Starting the local cluster's components, one function each (containerd, etcd, the control plane, the
# kubelet, kube-proxy, the add-ons): functions of scripts/cluster.sh, which sources this file after setting
# its variables and helpers (log, die, start, wait_for, kubectl).
# shellcheck shell=bash

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
