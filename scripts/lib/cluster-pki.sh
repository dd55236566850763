# The local cluster's certificates, kubeconfigs and add-on images: functions of scripts/cluster.sh, which
# sources this file after setting its variables (CLUSTER_DIR, PKI, TOOLS_BIN, ...).
# shellcheck shell=bash

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
