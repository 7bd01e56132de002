#!/usr/bin/env bash
# Runs bulwark audit and kube-bench side by side on the same files and the same
# running processes, and prints what each reports for every weakness of a set
# of fixtures (the table of README.md, "bulwark audit vs kube-bench").
#
#   hack/compare-kube-bench.sh KUBE_BENCH_BINARY KUBE_BENCH_CFG_DIR
#   KUBE_BENCH=… KUBE_BENCH_CFG=… hack/compare-kube-bench.sh
#
# kube-bench is not fetched here: build it from its public source and pass the
# binary and its cfg/ folder (e.g. /tmp/kube-bench-src/cfg). Optional:
#   KUBE_BENCH_BENCHMARK  CIS benchmark folder of that cfg (default cis-1.12,
#                         the newest in kube-bench v0.15.6)
#   COMPARE_WORK          work folder (default: a new one under /tmp); kept
#   COMPARE_SCENARIOS     scenarios to run (default: kubeadm weakened hardway)
#   COMPARE_REUSE=1       keep the reports already in COMPARE_WORK; only redo the table
#   BULWARK               a bulwark binary (default: built from this tree)
#
# Needs root, util-linux unshare, iproute2, openssl and jq, and Go. The real
# components (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kubeadm) are built by hack/build-tools.sh into .cache/bin.
#
# How it is fair to kube-bench: every scenario runs in its own mount, PID and
# network namespaces. The fixture tree is overlaid on the real /etc and
# /var/lib, so files sit at the paths kube-bench's config.yaml expects
# (/etc/kubernetes/manifests, /var/lib/kubelet/config.yaml, systemd units),
# and the control plane really runs (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, started with exactly the command
# lines of the manifests or units), so kube-bench's `ps` sees their flags and
# its kubectl-based policy checks reach a live API server. A kubelet cannot run
# on these machines: a stand-in process named kubelet holds the command line
# its systemd unit expands to, which is all kube-bench reads of a kubelet.
# Nothing outside the namespaces is touched: /etc and /var/lib are overlays,
# /run and /var/log are private, ports are those of a private network.
set -euo pipefail

self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/.." && pwd)
bindir=$repo/.cache/bin
benchmark=${KUBE_BENCH_BENCHMARK:-cis-1.12}

die() { echo "compare-kube-bench: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# Helpers shared by the fixture builders and the namespace side.

# unit_argv UNIT: the command line systemd runs for a unit, one word a line:
# backslash continuations joined, the last ExecStart= taken, $VAR and ${VAR}
# expanded from Environment= and EnvironmentFile= (as kubeadm's drop-in needs).
unit_argv() {
  local unit=$1 line val exec="" f k v w x
  declare -A env=()
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    case $line in
      Environment=*)
        val=${line#Environment=}; val=${val#\"}; val=${val%\"}
        env[${val%%=*}]=${val#*=} ;;
      EnvironmentFile=*)
        f=${line#EnvironmentFile=}; f=${f#-}
        if [ -f "$f" ]; then
          while IFS= read -r v; do
            [[ $v =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
            k=${BASH_REMATCH[1]}; v=${BASH_REMATCH[2]}; v=${v#\"}; v=${v%\"}
            env[$k]=$v
          done <"$f"
        fi ;;
      ExecStart=*) exec=${line#ExecStart=} ;;
    esac
  done < <(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$unit")
  set -f
  for w in $exec; do
    if [[ $w =~ ^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$ ]]; then
      for x in ${env[${BASH_REMATCH[1]}]:-}; do printf '%s\n' "$x"; done
    else
      printf '%s\n' "$w"
    fi
  done
  set +f
}

# manifest_argv FILE: the command of a kubeadm static Pod manifest, one word a line.
manifest_argv() {
  awk '/^  - command:$/ {c=1; next} c && /^    - / {sub(/^    - /, ""); print; next} c {exit}' "$1"
}

# ---------------------------------------------------------------------------
# Inside the namespaces: start the scenario's processes, run both tools.

inside() {
  local s=$1 dir=$work/$1 root=$work/$1/root
  local ns=$dir/ns logs=$dir/logs
  mkdir -p "$ns" "$logs"
  ip link set lo up
  ip addr add "$ip/32" dev lo
  mount -t tmpfs tmpfs "$ns"
  local d
  for d in etc var/lib; do
    mkdir -p "$ns/upper/$d" "$ns/work/$d"
    if [ -d "$root/$d" ]; then
      mount -t overlay overlay -o "lowerdir=$root/$d:/$d,upperdir=$ns/upper/$d,workdir=$ns/work/$d" "/$d"
    fi
  done
  mount -t tmpfs tmpfs /run
  mount -t tmpfs tmpfs /var/log

  local -a pids=()
  start() { # start NAME BINARY ARGV0 ARGS...
    local name=$1 bin=$2 argv0=$3; shift 3
    # A clean environment, as a static Pod or a systemd unit would have.
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      bash -c 'exec -a "$0" "$@"' "$argv0" "$bin" "$@" >"$logs/$name.log" 2>&1 </dev/null &
    pids+=($!)
    echo "$argv0 $*" >"$logs/$name.cmd"
  }
  local -a argv
  local c
  case $s in
    kubeadm|weakened)
      for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
        mapfile -t argv < <(manifest_argv "/etc/kubernetes/manifests/$c.yaml")
        start "$c" "$bindir/$c" "${argv[@]}"
      done ;;
    hardway)
      for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
        mapfile -t argv < <(unit_argv "/etc/systemd/system/$c.service")
        start "$c" "$bindir/$c" "${argv[@]}"
      done ;;
  esac
  mapfile -t argv < <(unit_argv "$kubelet_unit")
  start kubelet "$work/bin/kubelet" "${argv[@]}"
  local kpid=${pids[-1]}

  local i
  for i in $(seq 1 180); do
    if "$bindir/kubectl" --kubeconfig "$admin_kubeconfig" get --raw=/readyz >/dev/null 2>&1; then break; fi
    sleep 1
  done
  "$bindir/kubectl" --kubeconfig "$admin_kubeconfig" get --raw=/readyz >/dev/null 2>&1 \
    || { tail -n 20 "$logs"/*.log >&2; die "$s: the API server did not become ready"; }
  sleep 5 # let the controller manager and scheduler settle
  local p
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { tail -n 20 "$logs"/*.log >&2; die "$s: a component exited (pid $p)"; }
  done
  ps -eo pid,args >"$dir/ps.txt"
  # What the kubelet runs with, as a plain command line: the same thing
  # kube-bench reads from the process table (bulwark's cross-check below).
  tr '\0' ' ' <"/proc/$kpid/cmdline" >"$dir/kubelet.cmdline"

  # From an empty folder: kube-bench's shell audits have unquoted globs
  # (1.1.7: find … -name *etcd*) that a matching file name in the current
  # folder would change.
  mkdir -p "$dir/empty"
  ( cd "$dir/empty" && KUBECONFIG=$admin_kubeconfig PATH=$bindir:$PATH \
      "$kube_bench" run --targets master,node,etcd,policies --benchmark "$benchmark" \
      --config-dir "$kube_bench_cfg" --json --outputfile "$dir/kube-bench.json" ) >"$logs/kube-bench.out" 2>&1 || true
  [ -s "$dir/kube-bench.json" ] || { cat "$logs/kube-bench.out" >&2; die "$s: kube-bench wrote no report"; }

  local -a bw
  case $s in
    kubeadm|weakened) bw=(--dir /etc/kubernetes --cmdline "$kubelet_unit") ;;
    hardway)
      bw=(--dir /var/lib/kubernetes)
      for c in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet; do
        bw+=(--cmdline "/etc/systemd/system/$c.service")
      done ;;
  esac
  # The static audit of the files, and the live audit of the cluster's
  # objects through the same admin kubeconfig kube-bench's kubectl uses.
  local -a live=(--live --kubeconfig "$admin_kubeconfig")
  # The controller manager makes the default ServiceAccounts: wait for
  # them, as a cluster that has run for a moment has them.
  for i in $(seq 1 60); do
    [ "$("$bindir/kubectl" --kubeconfig "$admin_kubeconfig" get serviceaccounts -A --field-selector metadata.name=default -o name 2>/dev/null | wc -l)" -ge 4 ] && break
    sleep 1
  done
  "$bulwark" audit "${bw[@]}" "${live[@]}" -o json >"$dir/bulwark.json" 2>"$logs/bulwark.err" || true
  [ -s "$dir/bulwark.json" ] || { cat "$logs/bulwark.err" >&2; die "$s: bulwark wrote no report"; }
  # The same audit from the kubelet's process command line rather than its
  # unit file (drop-in, Environment=, EnvironmentFile=): the two must agree.
  if [ "$s" != hardway ]; then
    "$bulwark" audit --dir /etc/kubernetes --cmdline "$dir/kubelet.cmdline" "${live[@]}" -o json >"$dir/bulwark-process.json" 2>/dev/null || true
  fi

  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 2
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}

if [ "${1:-}" = __inside ]; then
  inside "$2"
  exit 0
fi

# ---------------------------------------------------------------------------
# Fixtures. Each is a tree under $work/NAME/root laid out as on a node.

# The kubelet drop-in the kubeadm packages install.
kubeadm_dropin='# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS'

# fixture_kubeadm ROOT: what kubeadm init of the pinned release writes.
fixture_kubeadm() {
  local root=$1
  mkdir -p "$root"
  cat >"$root/kubeadm.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: $ip
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.36.3
EOF
  local phase
  for phase in "certs all" "kubeconfig all" "control-plane all" "etcd local" "kubelet-start"; do
    # shellcheck disable=SC2086
    "$bindir/kubeadm" init phase $phase --config /kubeadm.yaml --rootfs "$root" >"$root/../kubeadm-${phase%% *}.log" 2>&1 \
      || { cat "$root/../kubeadm-${phase%% *}.log" >&2; die "kubeadm init phase $phase failed"; }
  done
  rm "$root/kubeadm.yaml"
  mkdir -p "$root/etc/systemd/system/kubelet.service.d"
  printf '%s\n' "$kubeadm_dropin" >"$root/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
}

# sign_leaf CA_CRT CA_KEY KEY SUBJECT EKU DAYS|START:END OUT [SANS]: a certificate
# for an existing key; START:END (YYYYMMDDHHMMSSZ) makes one from the past.
sign_leaf() {
  local cacrt=$1 cakey=$2 key=$3 subj=$4 eku=$5 when=$6 out=$7 sans=${8:-}
  local tmp; tmp=$(mktemp -d)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -z "$sans" ] || echo "subjectAltName=$sans"
  } >"$tmp/ext"
  openssl req -new -key "$key" -subj "$subj" -out "$tmp/csr" 2>/dev/null
  if [[ $when == *:* ]]; then
    mkdir -p "$tmp/db"; : >"$tmp/db/index"
    cat >"$tmp/ca.cnf" <<EOF
[ca]
default_ca = old
[old]
database = $tmp/db/index
new_certs_dir = $tmp/db
serial = $tmp/db/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
organizationName = optional
EOF
    openssl rand -hex 16 >"$tmp/db/serial"
    openssl ca -batch -notext -config "$tmp/ca.cnf" -cert "$cacrt" -keyfile "$cakey" -in "$tmp/csr" \
      -startdate "${when%%:*}" -enddate "${when##*:}" -extfile "$tmp/ext" -out "$out" 2>/dev/null
  else
    openssl x509 -req -in "$tmp/csr" -CA "$cacrt" -CAkey "$cakey" -set_serial "0x$(openssl rand -hex 16)" \
      -days "$when" -sha256 -extfile "$tmp/ext" -out "$out" 2>/dev/null
  fi
  rm -rf "$tmp"
}

# fixture_weakened ROOT: kubeadm's output, then weakened the way clusters are:
# API server with anonymous auth, AlwaysAllow and profiling; etcd without
# client certificate authentication; an expired certificate; admin.conf in
# system:masters (as kubeadm wrote it before 1.29); a kubelet started with no
# configuration file at all.
fixture_weakened() {
  local root=$1 k=$1/etc/kubernetes
  fixture_kubeadm "$root"
  sed -i -e 's|^    - --authorization-mode=Node,RBAC$|    - --authorization-mode=AlwaysAllow|' \
    -e 's|^    - --advertise-address=\(.*\)$|    - --advertise-address=\1\n    - --anonymous-auth=true\n    - --profiling=true|' \
    "$k/manifests/kube-apiserver.yaml"
  sed -i -e '/^    - --client-cert-auth=true$/d' "$k/manifests/etcd.yaml"
  # apiserver-kubelet-client issued 13 months ago for a year: expired.
  local start end
  start=$(date -u -d '-395 days' +%Y%m%d%H%M%SZ); end=$(date -u -d '-30 days' +%Y%m%d%H%M%SZ)
  sign_leaf "$k/pki/ca.crt" "$k/pki/ca.key" "$k/pki/apiserver-kubelet-client.key" \
    "/CN=kube-apiserver-kubelet-client" clientAuth "$start:$end" "$k/pki/apiserver-kubelet-client.crt"
  # admin.conf in system:masters.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$root/../admin.key" 2>/dev/null
  sign_leaf "$k/pki/ca.crt" "$k/pki/ca.key" "$root/../admin.key" "/O=system:masters/CN=kubernetes-admin" clientAuth 365 "$root/../admin.crt"
  sed -i -e "s|^\(    client-certificate-data: \).*|\1$(base64 -w0 "$root/../admin.crt")|" \
    -e "s|^\(    client-key-data: \).*|\1$(base64 -w0 "$root/../admin.key")|" "$k/admin.conf"
  # The kubelet: a plain unit, no --config.
  rm -rf "$root/etc/systemd/system/kubelet.service.d" "$root/var/lib/kubelet"
  cat >"$root/etc/systemd/system/kubelet.service" <<'EOF'
[Unit]
Description=kubelet: The Kubernetes Node Agent
After=containerd.service

[Service]
ExecStart=/usr/bin/kubelet \
  --kubeconfig=/etc/kubernetes/kubelet.conf \
  --container-runtime-endpoint=unix:///var/run/containerd/containerd.sock \
  --pod-manifest-path=/etc/kubernetes/manifests \
  --v=2
Restart=always

[Install]
WantedBy=multi-user.target
EOF
}

# kubeconfig_for FILE CA CERT KEY USER SERVER
kubeconfig_for() {
  local k=$bindir/kubectl
  "$k" config set-cluster kubernetes-the-hard-way --certificate-authority="$2" --embed-certs=true --server="$6" --kubeconfig="$1" >/dev/null
  "$k" config set-credentials "$5" --client-certificate="$3" --client-key="$4" --embed-certs=true --kubeconfig="$1" >/dev/null
  "$k" config set-context default --cluster=kubernetes-the-hard-way --user="$5" --kubeconfig="$1" >/dev/null
  "$k" config use-context default --kubeconfig="$1" >/dev/null
}

# fixture_hardway ROOT: "Kubernetes the hard way": one CA for everything
# (etcd trusts the cluster CA), systemd units, the kubelet's configuration at
# /var/lib/kubelet/kubelet-config.yaml named by --config (with the read-only
# port opened), the scheduler without --bind-address.
fixture_hardway() {
  local root=$1 tmp=$1/../certs
  local vk=$root/var/lib/kubernetes ee=$root/etc/etcd vl=$root/var/lib/kubelet sd=$root/etc/systemd/system
  mkdir -p "$tmp" "$vk" "$ee" "$vl" "$sd"
  local n
  for n in ca kubernetes service-account admin kube-controller-manager kube-scheduler node; do
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/$n-key.pem" 2>/dev/null
  done
  openssl req -x509 -new -key "$tmp/ca-key.pem" -subj "/C=US/O=Kubernetes/CN=Kubernetes" -days 3650 -out "$tmp/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  local sign="sign_leaf $tmp/ca.pem $tmp/ca-key.pem"
  $sign "$tmp/kubernetes-key.pem" "/O=Kubernetes/CN=kubernetes" serverAuth,clientAuth 365 "$tmp/kubernetes.pem" \
    "IP:10.32.0.1,IP:$ip,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
  $sign "$tmp/service-account-key.pem" "/O=Kubernetes/CN=service-accounts" clientAuth 365 "$tmp/service-account.pem"
  $sign "$tmp/admin-key.pem" "/O=system:masters/CN=admin" clientAuth 365 "$tmp/admin.pem"
  $sign "$tmp/kube-controller-manager-key.pem" "/O=system:kube-controller-manager/CN=system:kube-controller-manager" clientAuth 365 "$tmp/kube-controller-manager.pem"
  $sign "$tmp/kube-scheduler-key.pem" "/O=system:kube-scheduler/CN=system:kube-scheduler" clientAuth 365 "$tmp/kube-scheduler.pem"
  $sign "$tmp/node-key.pem" "/O=system:nodes/CN=system:node:cp-1" serverAuth,clientAuth 365 "$tmp/node.pem" "DNS:cp-1,IP:$ip"

  cp "$tmp"/{ca,ca-key,kubernetes,kubernetes-key,service-account,service-account-key}.pem "$vk/"
  cp "$tmp"/{ca,kubernetes,kubernetes-key}.pem "$ee/"
  cp "$tmp/node.pem" "$vl/cp-1.pem"; cp "$tmp/node-key.pem" "$vl/cp-1-key.pem"
  kubeconfig_for "$vk/kube-controller-manager.kubeconfig" "$tmp/ca.pem" "$tmp/kube-controller-manager.pem" "$tmp/kube-controller-manager-key.pem" system:kube-controller-manager https://127.0.0.1:6443
  kubeconfig_for "$vk/kube-scheduler.kubeconfig" "$tmp/ca.pem" "$tmp/kube-scheduler.pem" "$tmp/kube-scheduler-key.pem" system:kube-scheduler https://127.0.0.1:6443
  kubeconfig_for "$vl/kubeconfig" "$tmp/ca.pem" "$tmp/node.pem" "$tmp/node-key.pem" system:node:cp-1 "https://$ip:6443"
  kubeconfig_for "$root/../admin.kubeconfig" "$tmp/ca.pem" "$tmp/admin.pem" "$tmp/admin-key.pem" admin https://127.0.0.1:6443
  cat >"$vk/encryption-config.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
    providers:
      - aescbc:
          keys:
            - name: key1
              secret: $(head -c 32 /dev/urandom | base64)
      - identity: {}
EOF
  # As the hard way leaves them: keys 0600 (cfssl), kubeconfigs 0600
  # (kubectl), everything else written with `cat >` under umask 022.
  chmod 644 "$vk"/*.pem "$ee"/*.pem "$vl"/*.pem "$vk/encryption-config.yaml"
  chmod 600 "$vk"/*-key.pem "$ee"/*-key.pem "$vl"/*-key.pem "$vk"/*.kubeconfig "$vl/kubeconfig"

  cat >"$sd/etcd.service" <<EOF
[Unit]
Description=etcd
Documentation=https://github.com/coreos

[Service]
Type=notify
ExecStart=/usr/local/bin/etcd \\
  --name cp-1 \\
  --cert-file=/etc/etcd/kubernetes.pem \\
  --key-file=/etc/etcd/kubernetes-key.pem \\
  --peer-cert-file=/etc/etcd/kubernetes.pem \\
  --peer-key-file=/etc/etcd/kubernetes-key.pem \\
  --trusted-ca-file=/etc/etcd/ca.pem \\
  --peer-trusted-ca-file=/etc/etcd/ca.pem \\
  --peer-client-cert-auth \\
  --client-cert-auth \\
  --initial-advertise-peer-urls https://$ip:2380 \\
  --listen-peer-urls https://$ip:2380 \\
  --listen-client-urls https://$ip:2379,https://127.0.0.1:2379 \\
  --advertise-client-urls https://$ip:2379 \\
  --initial-cluster-token etcd-cluster-0 \\
  --initial-cluster cp-1=https://$ip:2380 \\
  --initial-cluster-state new \\
  --data-dir=/var/lib/etcd
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
  cat >"$sd/kube-apiserver.service" <<EOF
[Unit]
Description=Kubernetes API Server
Documentation=https://github.com/kubernetes/kubernetes

[Service]
ExecStart=/usr/local/bin/kube-apiserver \\
  --advertise-address=$ip \\
  --allow-privileged=true \\
  --audit-log-maxage=30 \\
  --audit-log-maxbackup=3 \\
  --audit-log-maxsize=100 \\
  --audit-log-path=/var/log/audit.log \\
  --authorization-mode=Node,RBAC \\
  --bind-address=0.0.0.0 \\
  --client-ca-file=/var/lib/kubernetes/ca.pem \\
  --enable-admission-plugins=NamespaceLifecycle,NodeRestriction,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota \\
  --etcd-cafile=/var/lib/kubernetes/ca.pem \\
  --etcd-certfile=/var/lib/kubernetes/kubernetes.pem \\
  --etcd-keyfile=/var/lib/kubernetes/kubernetes-key.pem \\
  --etcd-servers=https://$ip:2379 \\
  --event-ttl=1h \\
  --encryption-provider-config=/var/lib/kubernetes/encryption-config.yaml \\
  --kubelet-certificate-authority=/var/lib/kubernetes/ca.pem \\
  --kubelet-client-certificate=/var/lib/kubernetes/kubernetes.pem \\
  --kubelet-client-key=/var/lib/kubernetes/kubernetes-key.pem \\
  --service-account-key-file=/var/lib/kubernetes/service-account.pem \\
  --service-account-signing-key-file=/var/lib/kubernetes/service-account-key.pem \\
  --service-account-issuer=https://$ip:6443 \\
  --service-cluster-ip-range=10.32.0.0/24 \\
  --service-node-port-range=30000-32767 \\
  --tls-cert-file=/var/lib/kubernetes/kubernetes.pem \\
  --tls-private-key-file=/var/lib/kubernetes/kubernetes-key.pem \\
  --v=2
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
  cat >"$sd/kube-controller-manager.service" <<'EOF'
[Unit]
Description=Kubernetes Controller Manager
Documentation=https://github.com/kubernetes/kubernetes

[Service]
ExecStart=/usr/local/bin/kube-controller-manager \
  --bind-address=0.0.0.0 \
  --cluster-cidr=10.200.0.0/16 \
  --cluster-name=kubernetes \
  --cluster-signing-cert-file=/var/lib/kubernetes/ca.pem \
  --cluster-signing-key-file=/var/lib/kubernetes/ca-key.pem \
  --kubeconfig=/var/lib/kubernetes/kube-controller-manager.kubeconfig \
  --leader-elect=true \
  --root-ca-file=/var/lib/kubernetes/ca.pem \
  --service-account-private-key-file=/var/lib/kubernetes/service-account-key.pem \
  --service-cluster-ip-range=10.32.0.0/24 \
  --use-service-account-credentials=true \
  --v=2
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
  cat >"$sd/kube-scheduler.service" <<'EOF'
[Unit]
Description=Kubernetes Scheduler
Documentation=https://github.com/kubernetes/kubernetes

[Service]
ExecStart=/usr/local/bin/kube-scheduler \
  --kubeconfig=/var/lib/kubernetes/kube-scheduler.kubeconfig \
  --leader-elect=true \
  --v=2
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
  cat >"$sd/kubelet.service" <<'EOF'
[Unit]
Description=Kubernetes Kubelet
Documentation=https://github.com/kubernetes/kubernetes
After=containerd.service
Requires=containerd.service

[Service]
ExecStart=/usr/local/bin/kubelet \
  --config=/var/lib/kubelet/kubelet-config.yaml \
  --container-runtime-endpoint=unix:///var/run/containerd/containerd.sock \
  --kubeconfig=/var/lib/kubelet/kubeconfig \
  --register-node=true \
  --v=2
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
  cat >"$vl/kubelet-config.yaml" <<'EOF'
kind: KubeletConfiguration
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: "/var/lib/kubernetes/ca.pem"
authorization:
  mode: Webhook
clusterDomain: "cluster.local"
clusterDNS:
  - "10.32.0.10"
podCIDR: "10.200.0.0/24"
readOnlyPort: 10255
resolvConf: "/run/systemd/resolve/resolv.conf"
runtimeRequestTimeout: "15m"
tlsCertFile: "/var/lib/kubelet/cp-1.pem"
tlsPrivateKeyFile: "/var/lib/kubelet/cp-1-key.pem"
EOF
  chmod 644 "$vl/kubelet-config.yaml" "$sd"/*.service
}

# ---------------------------------------------------------------------------
# Driver.

kube_bench=${KUBE_BENCH:-${1:-}}
kube_bench_cfg=${KUBE_BENCH_CFG:-${2:-}}
[ -n "$kube_bench" ] && [ -n "$kube_bench_cfg" ] || {
  sed -n '2,12p' "$self" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
kube_bench=$(readlink -f "$kube_bench"); kube_bench_cfg=$(readlink -f "$kube_bench_cfg")
[ -x "$kube_bench" ] || die "no kube-bench binary at $kube_bench"
[ -f "$kube_bench_cfg/config.yaml" ] && [ -d "$kube_bench_cfg/$benchmark" ] || die "$kube_bench_cfg is not kube-bench's cfg/ folder with $benchmark"
[ "$(id -u)" = 0 ] || die "needs root (namespaces, overlays)"
for t in unshare ip openssl jq go; do command -v "$t" >/dev/null || die "needs $t"; done

work=${COMPARE_WORK:-$(mktemp -d /tmp/bulwark-kube-bench.XXXXXX)}
mkdir -p "$work/bin"
work=$(readlink -f "$work")
ip=$(hostname -I | awk '{print $1}')
[ -n "$ip" ] || die "no host address (hostname -I) for kubeadm"

bash "$repo/hack/build-tools.sh" >/dev/null
if [ -n "${BULWARK:-}" ]; then
  bulwark=$(readlink -f "$BULWARK")
else
  bulwark=$work/bin/bulwark
  (cd "$repo" && go build -o "$bulwark" ./cmd/bulwark)
fi
# The kubelet stand-in: a process called kubelet that holds its command line.
mkdir -p "$work/kubelet-standin"
cat >"$work/kubelet-standin/main.go" <<'EOF'
// A stand-in for the kubelet: it only holds its command line in the process table.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
EOF
printf 'module kubeletstandin\n\ngo 1.22\n' >"$work/kubelet-standin/go.mod"
(cd "$work/kubelet-standin" && GOFLAGS= go build -o "$work/bin/kubelet" .)

kb_version=$("$kube_bench" version 2>/dev/null | head -n1)
echo "kube-bench $kb_version, benchmark $benchmark; bulwark $("$bulwark" version 2>/dev/null | head -n1); work folder $work"
echo "in each fixture: $kube_bench run --targets master,node,etcd,policies --benchmark $benchmark --config-dir $kube_bench_cfg --json"
echo "                 bulwark audit --dir /etc/kubernetes --cmdline <kubelet unit> --live --kubeconfig <admin kubeconfig> -o json   (hard way: --dir /var/lib/kubernetes --cmdline <each unit>)"

scenarios=${COMPARE_SCENARIOS:-kubeadm weakened hardway}
export work ip bindir bulwark kube_bench kube_bench_cfg benchmark
declare -A unit_of=(
  [kubeadm]=/etc/systemd/system/kubelet.service.d/10-kubeadm.conf
  [weakened]=/etc/systemd/system/kubelet.service
  [hardway]=/etc/systemd/system/kubelet.service
)
for s in $scenarios; do
  [ -n "${unit_of[$s]:-}" ] || die "unknown scenario $s (want kubeadm, weakened, hardway)"
  if [ "${COMPARE_REUSE:-}" = 1 ] && [ -s "$work/$s/kube-bench.json" ] && [ -s "$work/$s/bulwark.json" ]; then
    echo "== $s: reusing the reports in $work/$s"
    continue
  fi
  rm -rf "${work:?}/$s"; mkdir -p "$work/$s"
  case $s in
    kubeadm) fixture_kubeadm "$work/$s/root"; admin_kubeconfig=/etc/kubernetes/super-admin.conf ;;
    weakened) fixture_weakened "$work/$s/root"; admin_kubeconfig=/etc/kubernetes/admin.conf ;;
    hardway) fixture_hardway "$work/$s/root"; admin_kubeconfig=$work/$s/admin.kubeconfig ;;
  esac
  kubelet_unit=${unit_of[$s]}
  export kubelet_unit admin_kubeconfig
  echo "== $s: running the control plane and both tools"
  unshare --mount --pid --fork --mount-proc --net --propagation private bash "$self" __inside "$s"
done

# ---------------------------------------------------------------------------
# The comparison. One row per weakness (kind "weak") or per thing that is in
# fact fine but that a tool may flag (kind "fine"): the fixtures it is in, the
# kube-bench checks about it, the bulwark rules about it, a note. A bulwark
# rule written ID@FILE counts only a finding of that rule about that file
# (evidence.file), for rules such as file:mode that report many files.
# Verdicts are computed from the two reports, never written here.
rows='kubeadm weakened hardway|weak|etcd peers and etcd clients share a CA: the API server'"'"'s etcd client certificate can join etcd as a member||etcd:separate-peer-ca|
weakened|weak|etcd without `--client-cert-auth` (its `--trusted-ca-file` still makes it demand a client certificate: CIS wants the flag)|2.2|etcd:client-cert-auth|bulwark: low, the finding says why
hardway|weak|etcd trusts the cluster CA (one CA, "the hard way"): any Kubernetes client certificate reads and writes etcd|2.7|etcd:separate-ca|kube-bench 2.7 only checks that `--trusted-ca-file` is set
hardway|weak|etcd peers trust the cluster CA: any Kubernetes client certificate can join etcd as a member|2.7|etcd:separate-peer-ca-from-cluster|
kubeadm hardway|weak|API server anonymous requests on (no `--anonymous-auth`: the default is true)|1.2.1|kube-apiserver:anonymous-auth|CIS 1.2.1 is unscored: kube-bench only warns
weakened|weak|API server `--anonymous-auth=true`|1.2.1|kube-apiserver:anonymous-auth|CIS 1.2.1 is unscored: kube-bench only warns
weakened|weak|API server `--authorization-mode=AlwaysAllow`: every request is allowed|1.2.6 1.2.7 1.2.8 5.1.2 5.1.4|kube-apiserver:authorization-mode|kube-bench 5.1.2, 5.1.4 ask the live API server (`kubectl auth can-i`)
kubeadm hardway|weak|API server profiling on (the default)|1.2.15|kube-apiserver:profiling|
weakened|weak|API server `--profiling=true`|1.2.15|kube-apiserver:profiling|
kubeadm weakened hardway|weak|controller manager profiling on (the default)|1.3.2|kube-controller-manager:profiling|
kubeadm weakened hardway|weak|scheduler profiling on (the default)|1.4.1|kube-scheduler:profiling|
kubeadm weakened|weak|Secrets not encrypted at rest (no `--encryption-provider-config`)|1.2.27 1.2.28|kube-apiserver:encryption-provider-config|
kubeadm weakened|weak|no audit log (no `--audit-log-path`, no policy)|1.2.16 1.2.17 1.2.18 1.2.19|kube-apiserver:audit-log-path kube-apiserver:audit-policy-file|
hardway|weak|`--audit-log-path` without `--audit-policy-file`: the API server records nothing ("No audit policy file provided, no events will be recorded")|1.2.16|kube-apiserver:audit-policy-file|
hardway|weak|audit log keeps 3 rotated files (CIS: at least 10)|1.2.18|kube-apiserver:audit-log-maxbackup|bulwark checks retention only when `--audit-log-path` is set
hardway|weak|controller manager `--bind-address=0.0.0.0`|1.3.7|kube-controller-manager:bind-address|
hardway|weak|scheduler without `--bind-address`: it serves on 0.0.0.0 by default|1.4.2|kube-scheduler:bind-address|kube-bench passes an absent flag
kubeadm weakened hardway|weak|kubelet certificates signed for a year (`--cluster-signing-duration` default 8760h)||kube-controller-manager:cluster-signing-duration|
kubeadm weakened|weak|kubelet serves a self-signed certificate: the API server cannot verify kubelets (no `--kubelet-certificate-authority`)|1.2.5 4.2.9|kubelet:serverTLSBootstrap|bulwark reports it as info by design: serving CSRs need an approver Kubernetes does not ship
weakened|weak|kubelet without a configuration file: anonymous requests on (flag default)|4.2.1|kubelet:authentication.anonymous.enabled|kube-bench fails it because it takes the unit file for the configuration file and finds no field in it
weakened|weak|kubelet without a configuration file: authorization AlwaysAllow (flag default)|4.2.2|kubelet:authorization.mode|as above
weakened|weak|kubelet without a configuration file: bearer tokens not checked (webhook authentication off)||kubelet:authentication.webhook.enabled|
weakened|weak|kubelet without a configuration file: no client CA|4.2.3|kubelet:authentication.x509.clientCAFile|
weakened|weak|kubelet without a configuration file: read-only port 10255 open (flag default)|4.2.4|kubelet:readOnlyPort|kube-bench passes an absent setting
weakened|weak|kubelet without a configuration file: certificate rotation off (flag default)|4.2.10|kubelet:rotateCertificates|kube-bench passes an absent setting
hardway|weak|kubelet configuration named by `--config` (`/var/lib/kubelet/kubelet-config.yaml`) opens the read-only port 10255|4.2.4|kubelet:readOnlyPort|kube-bench reads `/var/lib/kubelet/kubeconfig` as the kubelet configuration
hardway|weak|kubelet configuration leaves certificate rotation off (`rotateCertificates` defaults to false in the file)|4.2.10|kubelet:rotateCertificates|kube-bench passes an absent setting
kubeadm weakened hardway|weak|kubelet `protectKernelDefaults` off||kubelet:protectKernelDefaults|
weakened|weak|expired certificate (`pki/apiserver-kubelet-client.crt` ended 30 days ago)||cert:expired|
weakened|weak|`admin.conf` in `system:masters`: RBAC cannot revoke it|5.1.7|rbac:system-masters|kube-bench 5.1.7 is a manual item: the same WARN on every cluster
kubeadm weakened|weak|break-glass `super-admin.conf` (`system:masters`) left on the node|5.1.7|kubeconfig:super-admin-present|bulwark: info
kubeadm weakened|weak|CA private keys on the node (`etcd/ca.key`, `front-proxy-ca.key` are not needed there)||pki:ca-key-present|bulwark: info
kubeadm weakened hardway|weak|etcd data directory owned by root, not etcd:etcd|1.1.12|file:etcd-data-owner|kubeadm runs etcd as root
kubeadm weakened hardway|weak|`--service-account-extend-token-expiration` on (the default): projected tokens last a year for legacy clients|1.2.30|kube-apiserver:service-account-extend-token-expiration|
kubeadm|weak|kubelet unit file mode 0644 (CIS: 600): kubeadm'"'"'s drop-in `kubelet.service.d/10-kubeadm.conf`|4.1.1|file:mode@/etc/systemd/system/kubelet.service.d/10-kubeadm.conf|
hardway|weak|kubelet unit file mode 0644 (CIS: 600)|4.1.1|file:mode@/etc/systemd/system/kubelet.service|
weakened|weak|kubelet unit file mode 0644 (CIS: 600)|4.1.1 4.1.9|file:mode@/etc/systemd/system/kubelet.service|kube-bench checks the unit twice: 4.1.9 takes it for the configuration file
kubeadm|weak|kubelet configuration file `/var/lib/kubelet/config.yaml` mode 0644 (CIS: 600)|4.1.9|file:mode@/var/lib/kubelet/config.yaml|
hardway|weak|kubelet configuration file `/var/lib/kubelet/kubelet-config.yaml` mode 0644 (CIS: 600)|4.1.9|file:mode@/var/lib/kubelet/kubelet-config.yaml|kube-bench checks `/var/lib/kubelet/kubeconfig` (0600) instead
hardway|weak|encryption configuration `/var/lib/kubernetes/encryption-config.yaml` mode 0644: every user of the node reads the key to every Secret||file:secret-readable-by-others@encryption-config.yaml|
hardway|weak|Secrets encrypted with `aescbc` (the hard way'"'"'s provider), which the Kubernetes documentation does not recommend|1.2.28|kube-apiserver:encryption-weak-provider|CIS manual item
kubeadm weakened|weak|CAs without a path length constraint: each may sign intermediate CAs, which bulwark never plans||pki:ca-path-length|
hardway|weak|control-plane unit files mode 0644 (what CIS 1.1.1–1.1.8 ask of static Pod manifests: 600)||file:mode@/etc/systemd/system/etcd.service file:mode@/etc/systemd/system/kube-apiserver.service file:mode@/etc/systemd/system/kube-controller-manager.service file:mode@/etc/systemd/system/kube-scheduler.service|kube-bench looks for manifests only
kubeadm weakened hardway|weak|admission plugin DenyServiceExternalIPs not enabled: any Service can claim an outside address (CVE-2020-8554)|1.2.3|kube-apiserver:admission:DenyServiceExternalIPs|CIS manual item
kubeadm weakened hardway|weak|admission plugin EventRateLimit not enabled|1.2.9|kube-apiserver:admission:EventRateLimit|CIS manual item; bulwark: info (it needs an admission configuration of the cluster'"'"'s own)
kubeadm weakened hardway|weak|admission plugin AlwaysPullImages not enabled|1.2.11|kube-apiserver:admission:AlwaysPullImages|CIS manual item; bulwark: info (it fits multi-tenant clusters)
kubeadm weakened hardway|weak|API server TLS cipher suites not restricted (no `--tls-cipher-suites`)|1.2.29|kube-apiserver:tls-cipher-suites|CIS manual item
kubeadm weakened hardway|weak|kubelet TLS cipher suites not restricted (no `tlsCipherSuites`)|4.2.12|kubelet:tlsCipherSuites|CIS manual item
kubeadm weakened hardway|weak|controller manager `--terminated-pod-gc-threshold` not set|1.3.1|kube-controller-manager:terminated-pod-gc-threshold|
kubeadm weakened hardway|weak|kubelet `podPidsLimit` not set: one Pod can exhaust the node'"'"'s process IDs|4.2.13|kubelet:podPidsLimit|
kubeadm weakened hardway|weak|kubelet `seccompDefault` off: containers run unconfined by default|4.2.14|kubelet:seccompDefault|
kubeadm weakened hardway|weak|default service accounts automount their tokens|5.1.5|cluster:default-sa-automount|bulwark reads the cluster'"'"'s ServiceAccounts with `--live --kubeconfig`: one finding per namespace
kubeadm weakened hardway|fine|no kube-proxy on the node|4.3.1 4.1.3 4.1.4||
kubeadm weakened hardway|fine|no CNI configuration on the node|1.1.9 1.1.10||
hardway|fine|no static Pod manifests, no kubeadm kubeconfigs, no `/etc/kubernetes/pki` (components run from systemd units)|1.1.1 1.1.2 1.1.3 1.1.4 1.1.5 1.1.6 1.1.7 1.1.8 1.1.13 1.1.14 1.1.15 1.1.16 1.1.17 1.1.18 1.1.19 1.1.20 1.1.21 4.1.7 4.1.8||kube-bench checks kubeadm'"'"'s paths and fails when they are absent
hardway|fine|kubelet anonymous auth off, webhook authorization, client CA: all set in its `--config` file|4.2.1 4.2.2 4.2.3||kube-bench reads `/var/lib/kubelet/kubeconfig` as the kubelet configuration
hardway|fine|kubelet serving certificate from the cluster CA, verified by the API server (`tlsCertFile`, `--kubelet-certificate-authority`)|1.2.5 4.2.9|kubelet:serverTLSBootstrap|
hardway|fine|no aggregation layer configured (no `--requestheader-*`, `--proxy-client-*`): no identity header is trusted||kube-apiserver:requestheader-client-ca-file kube-apiserver:requestheader-allowed-names kube-apiserver:proxy-client-cert-file kube-apiserver:proxy-client-key-file|bulwark'"'"'s own setup rules (it flagged these until it learned that absent is fine)
hardway|fine|no bootstrap tokens: bootstrap-token authentication and the bootstrapsigner/tokencleaner controllers off||kube-apiserver:enable-bootstrap-token-auth kube-controller-manager:controllers|bulwark'"'"'s own setup rules (as above)
hardway|fine|controller manager and scheduler without delegated authentication/authorization: their ports deny all but health checks||kube-controller-manager:authentication-kubeconfig kube-controller-manager:authorization-kubeconfig kube-controller-manager:client-ca-file kube-scheduler:authentication-kubeconfig kube-scheduler:authorization-kubeconfig|bulwark'"'"'s own setup rules (as above)
kubeadm weakened hardway|fine|a fresh cluster: only built-in roles, no workloads|5.1.1 5.1.3 5.1.6 5.2.2 5.2.3 5.2.4 5.2.5 5.2.6||5.1.1 fails under /bin/sh (`[[: not found`); 5.1.3 flags built-in ClusterRoles; the others find no Pods'

declare -A kb_state kb_type bw_sev
for s in $scenarios; do
  while read -r id st ty; do
    kb_state[$s/$id]=$st; kb_type[$s/$id]=$ty
  done < <(jq -r '.Controls[].tests[].results[] | "\(.test_number) \(.status) \(.type // "")"' "$work/$s/kube-bench.json")
  while read -r id sev file; do
    [ -n "${bw_sev[$s/$id]:-}" ] || bw_sev[$s/$id]=$sev
    [ -z "$file" ] || [ -n "${bw_sev[$s/$id@$file]:-}" ] || bw_sev[$s/$id@$file]=$sev
  done < <(jq -r '.findings[] | "\(.id) \(.severity) \(.evidence.file // "")"' "$work/$s/bulwark.json")
done

# cell_kb S CHECKS: kube-bench's results, grouped by state. Sets kb_flag
# (FAIL or WARN from a check that tests something), kb_pass, kb_manual.
cell_kb() {
  local s=$1 id st out="" state
  kb_flag=0; kb_pass=0
  declare -A by=()
  for id in $2; do
    st=${kb_state[$s/$id]:-absent}
    if [ "${kb_type[$s/$id]:-}" = manual ]; then st="$st (manual item)"
    elif [ "$st" = FAIL ] || [ "$st" = WARN ]; then kb_flag=1
    elif [ "$st" = PASS ]; then kb_pass=1; fi
    by[$st]="${by[$st]:+${by[$st]} }$id"
  done
  for state in FAIL WARN PASS "WARN (manual item)" absent; do
    [ -n "${by[$state]:-}" ] && out="${out:+$out, }${by[$state]} $state"
  done
  printf '%s' "${out:-not checked}"
}

cell_bw() {
  local s=$1 id out=""
  bw_found=0
  for id in $2; do
    [ -n "${bw_sev[$s/$id]:-}" ] || continue
    bw_found=1
    if [[ $id == *@* ]]; then out="${out:+$out, }\`${id%%@*}\` (${bw_sev[$s/$id]}) on \`${id#*@}\`"
    else out="${out:+$out, }\`$id\` (${bw_sev[$s/$id]})"; fi
  done
  printf '%s' "${out:-no finding}"
}

verdict() { # KIND
  if [ "$1" = weak ]; then
    if [ $bw_found = 1 ] && [ $kb_flag = 1 ]; then echo "both find it"
    elif [ $bw_found = 1 ] && [ $kb_pass = 1 ]; then echo "**kube-bench wrong** (passes it)"
    elif [ $bw_found = 1 ]; then echo "**kube-bench misses**"
    elif [ $kb_flag = 1 ]; then echo "**bulwark misses**"
    elif [ $kb_pass = 1 ]; then echo "neither finds it (kube-bench passes it)"
    else echo "neither checks it"; fi
  else
    if [ $bw_found = 1 ] && [ $kb_flag = 1 ]; then echo "**both wrong** (false alarms)"
    elif [ $kb_flag = 1 ]; then echo "**kube-bench wrong** (false alarm)"
    elif [ $bw_found = 1 ]; then echo "**bulwark wrong** (false alarm)"
    else echo "both right"; fi
  fi
}

table=$work/comparison.md
declare -A seen_kb seen_bw
{
  echo "| fixture | weakness (or what is in fact fine) | kube-bench $kb_version ($benchmark) | bulwark audit | verdict | note |"
  echo "|---|---|---|---|---|---|"
  while IFS='|' read -r rscen kind what checks ids note; do
    declare -A merged=() order=()
    keys=()
    for s in $rscen; do
      case " $scenarios " in *" $s "*) ;; *) continue ;; esac
      for id in $checks; do seen_kb[$s/$id]=1; done
      for id in $ids; do seen_bw[$s/$id]=1; done
      kb=$(cell_kb "$s" "$checks"); cell_kb "$s" "$checks" >/dev/null
      bw=$(cell_bw "$s" "$ids"); cell_bw "$s" "$ids" >/dev/null
      v=$(verdict "$kind")
      key="$kb|$bw|$v"
      if [ -z "${merged[$key]:-}" ]; then keys+=("$key"); fi
      merged[$key]="${merged[$key]:+${merged[$key]}, }$s"
    done
    for key in "${keys[@]}"; do
      IFS='|' read -r kb bw v <<<"$key"
      echo "| ${merged[$key]} | $what | $kb | $bw | $v | $note |"
    done
    unset merged order
  done <<<"$rows"
} >"$table"
cat "$table"

# Everything either tool reported must be in a row.
missing=0
for s in $scenarios; do
  while read -r id st ty; do
    [ "$ty" = manual ] && continue
    if [ -z "${seen_kb[$s/$id]:-}" ]; then echo "NOT IN THE TABLE: $s: kube-bench $id $st" >&2; missing=1; fi
  done < <(jq -r '.Controls[].tests[].results[] | select(.status != "PASS") | "\(.test_number) \(.status) \(.type // "")"' "$work/$s/kube-bench.json")
  while read -r id sev file; do
    if [ -z "${seen_bw[$s/$id]:-}" ] && { [ -z "$file" ] || [ -z "${seen_bw[$s/$id@$file]:-}" ]; }; then
      echo "NOT IN THE TABLE: $s: bulwark $id ($sev)${file:+ on $file}" >&2; missing=1
    fi
  done < <(jq -r '.findings[] | "\(.id) \(.severity) \(.evidence.file // "")"' "$work/$s/bulwark.json" | sort -u)
  # bulwark from the kubelet's unit file must agree with bulwark from its
  # process: the same findings (rule, severity, title), except the mode of the
  # unit file itself, which only the unit reading can see.
  if [ -s "$work/$s/bulwark-process.json" ]; then
    same='.findings[] | select(.id != "file:mode" or .evidence.file != $unit) | "\(.id) (\(.severity)) \(.title)"'
    d=$(diff <(jq -r --arg unit "${unit_of[$s]}" "$same" "$work/$s/bulwark.json" | sort -u) \
             <(jq -r --arg unit "${unit_of[$s]}" "$same" "$work/$s/bulwark-process.json" | sort -u) || true)
    [ -z "$d" ] || printf 'bulwark reads the kubelet unit differently from the process it starts (%s, %s; < unit, > process):\n%s\n' "$s" "${unit_of[$s]}" "$d" >&2
  fi
done
echo
echo "verdicts (rows x fixtures):"
awk -F' [|] ' 'NR > 2 { n = split($1, f, ", "); c[$5] += n } END { for (v in c) printf "  %3d  %s\n", c[v], v }' "$table" | sort -rn
echo "table: $table; reports: $work/<fixture>/{kube-bench,bulwark}.json"
exit $missing
