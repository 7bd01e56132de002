#!/usr/bin/env bash
# Builds the real components bulwark's tests run, from the pinned modules
# under tools/: etcd (tools/etcd) and kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kubeadm (tools/kube). Binaries go to OUTDIR
# (default .cache/bin) and are relinked only when the pins change.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/.cache/bin}
mkdir -p "$out"
stamp="$out/.stamp"
want=$(cat "$repo/tools/etcd/go.mod" "$repo/tools/etcd/go.sum" "$repo/tools/kube/go.mod" "$repo/tools/kube/go.sum" "$0" | sha256sum | cut -d' ' -f1)
all_there=1
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubeadm; do
  [ -x "$out/$b" ] || all_there=0
done
if [ "$all_there" = 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "components up to date in $out"
  exit 0
fi
start=$(date +%s)
(cd "$repo/tools/etcd" && go build -o "$out/etcd" ./cmd/etcd)
echo "built etcd"
(cd "$repo/tools/kube" && go build -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kubeadm)
echo "built kube-apiserver kube-controller-manager kube-scheduler kubectl kubeadm"
echo "$want" > "$stamp"
echo "components built in $(( $(date +%s) - start ))s into $out"
