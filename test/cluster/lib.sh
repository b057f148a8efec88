# shellcheck shell=bash disable=SC2034
# Shared settings and helpers of the lading test cluster (sourced by build, up, down, e2e).
#
# Everything a running cluster owns lives below ONE state directory ($LADING_CLUSTER_STATE); the binaries
# it runs are built once per pinned version into a cache outside the repository.

# ---- pinned versions ------------------------------------------------------------------------------------
# Changing one of these also means updating the matching wrapper module under modules/ (see README).
LADING_K8S_VERSION=v1.34.4         # k8s.io/kubernetes; staging modules pinned to v0.34.4 in modules/kubernetes
LADING_ETCD_VERSION=v3.6.8         # go.etcd.io/etcd/server/v3 (modules/etcd)
LADING_CONTAINERD_VERSION=v2.2.9   # github.com/containerd/containerd/v2 (modules/containerd)
LADING_CRIO_VERSION=v1.34.0        # github.com/cri-o/cri-o, built inside a copy of its module source (and pinns)
LADING_CRICTL_VERSION=v1.34.0      # sigs.k8s.io/cri-tools/cmd/crictl
LADING_DISTRIBUTION_VERSION=v3.1.2 # github.com/distribution/distribution/v3/cmd/registry (the CNCF registry)
# The sandbox image both runtimes are configured to use; the harness builds it and imports it under this name.
LADING_SANDBOX_IMAGE=registry.k8s.io/pause:3.10
# The registry image the registry-mode e2e specs use: that registry binary packed by `up` as an OCI archive
# ($STATE/images/registry/registry.oci.tar) under this name; no node holds it until a spec puts it there.
LADING_REGISTRY_IMAGE=lading.test/distribution/registry:3.1.2
# CRI-O's build tags that work on Debian bookworm (libseccomp through cgo; no btrfs/devmapper headers needed)
CRIO_TAGS="containers_image_openpgp containers_image_ostree_stub exclude_graphdriver_btrfs exclude_graphdriver_devicemapper seccomp selinux"

# ---- paths ----------------------------------------------------------------------------------------------
LADING_CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LADING_REPO_DIR=$(cd "$LADING_CLUSTER_DIR/../.." && pwd)
LADING_CACHE_ROOT=${LADING_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lading/cluster}
LADING_BIN=$LADING_CACHE_ROOT/$LADING_K8S_VERSION/bin
STATE=$(realpath -m "${LADING_CLUSTER_STATE:-/tmp/lading-cluster}")

# ---- addresses ------------------------------------------------------------------------------------------
# The machine side: etcd, the controller manager and the scheduler listen on 127.0.0.1; the API server on
# the harness's bridge (the nodes reach it there), which the machine reaches too.
#   10.211.0.0/24  node network: bridge lading0 on the machine (10.211.0.1), one veth per node (.2, .3, ...)
#   10.212.N.0/24  pods of node N (N = 1, 2, ...): bridge cni0 inside that node; the machine routes the
#                  range to the node's address (so the API server's pod proxy reaches pods)
#   10.213.0.0/24  Services: kube-proxy (iptables mode) on every node makes ClusterIPs and NodePorts work
#                  inside the nodes, 127.0.0.1:NODEPORT included (localhost NodePorts, as kubeadm's default)
# Each node routes the other nodes' pod ranges to them (host-gw); nothing else is routed: nodes have no
# default route and the machine does not forward.
LOOPBACK=127.0.0.1
NODE_NET_BRIDGE=lading0
NODE_NET_PREFIX=10.211.0
NODE_NET_CIDR=$NODE_NET_PREFIX.0/24
APISERVER_IP=$NODE_NET_PREFIX.1
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
ETCD_METRICS_PORT=23810
APISERVER_PORT=16443
CONTROLLER_MANAGER_PORT=20257
SCHEDULER_PORT=20259
SERVICE_CIDR=10.213.0.0/24
SERVICE_FIRST_IP=10.213.0.1
# inside each node (its own network namespace): the kubelet's standard ports on the node's address
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
# the node's loopback forwarder (loopfwd) listens on this port of the node's own 127.0.0.1
LOOPFWD_PORT=15001
CLUSTER_NAME=lading
# cgroup parent of everything the kubelets run (/lading/<node>; created by up, removed by down)
CGROUP_ROOT_NAME=lading

# Machine-side components in start order; down stops them in reverse order. The nodes are not in this list:
# each is a set of namespaces whose first process (its init) has its pid file in $STATE/nodes/KEY/init.pid.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler)

# ---- nodes ----------------------------------------------------------------------------------------------
# LADING_CLUSTER_NODES: which nodes `up` starts, comma-separated, from: containerd, crio (default: containerd;
# `test/cluster/e2e` runs the node specs on containerd,crio). A node is known by its KEY (what ssh and reset
# take, its directory under $STATE/nodes) and has a fixed index, so its addresses do not depend on which
# other nodes run.
#   key         index  Kubernetes node name   hostname            address      pods
#   containerd  1      127.0.0.1 (see below)  lading-containerd   10.211.0.2   10.212.1.0/24
#   crio        2      lading-crio            lading-crio         10.211.0.3   10.212.2.0/24
# The containerd node keeps the name it had when it was the only node on the machine's loopback (127.0.0.1):
# the install specs match it in their expected output. It is only a name: its address is 10.211.0.2.
ALL_NODE_KEYS=(containerd crio)
cluster_node_keys() {
  local spec=${LADING_CLUSTER_NODES:-containerd,crio} k
  local -A seen=()
  for k in ${spec//,/ }; do
    case $k in containerd | crio) ;; *) die "LADING_CLUSTER_NODES: unknown node '$k' (known: ${ALL_NODE_KEYS[*]})" ;; esac
    [[ -n ${seen[$k]:-} ]] && continue
    seen[$k]=1
    echo "$k"
  done
}

# node_vars KEY: sets N_KEY N_INDEX N_NAME N_HOSTNAME N_IP N_POD_CIDR N_POD_GW N_DIR N_VETH N_RUNTIME N_CRI_SOCKET
node_vars() {
  N_KEY=$1
  case $N_KEY in
    containerd) N_INDEX=1 N_NAME=127.0.0.1 N_RUNTIME=containerd N_CRI_SOCKET=/run/containerd/containerd.sock ;;
    crio) N_INDEX=2 N_NAME=lading-crio N_RUNTIME=crio N_CRI_SOCKET=/run/crio/crio.sock ;;
    *) die "unknown node '$N_KEY' (known: ${ALL_NODE_KEYS[*]})" ;;
  esac
  N_HOSTNAME=lading-$N_KEY
  N_IP=$NODE_NET_PREFIX.$((N_INDEX + 1))
  N_POD_CIDR=10.212.$N_INDEX.0/24
  N_POD_GW=10.212.$N_INDEX.1
  N_DIR=$STATE/nodes/$N_KEY
  N_VETH=lading-n$N_INDEX
}

# node_key_of NAME_OR_KEY: the key of a node given by key, Kubernetes name or hostname
node_key_of() {
  local k
  for k in "${ALL_NODE_KEYS[@]}"; do
    node_vars "$k"
    if [[ $1 == "$N_KEY" || $1 == "$N_NAME" || $1 == "$N_HOSTNAME" ]]; then
      echo "$k"
      return 0
    fi
  done
  return 1
}

# proc_start_time PID: field 22 of /proc/PID/stat (ticks since boot): with the pid, it names one process
proc_start_time() {
  local stat
  stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
  stat=${stat##*) }
  # fields after the command: state is field 3, start time field 22 -> index 19 here
  local -a fields
  read -r -a fields <<<"$stat"
  echo "${fields[19]}"
}

# node_init_pid KEY: the machine-side pid of a node's init if it is alive (pid and start time as recorded)
node_init_pid() {
  local f=$STATE/nodes/$1/init.pid pid start
  [[ -s $f ]] || return 1
  read -r pid start <"$f" || return 1
  [[ $pid =~ ^[0-9]+$ && -d /proc/$pid ]] || return 1
  [[ $(proc_start_time "$pid" 2>/dev/null) == "$start" ]] || return 1
  echo "$pid"
}

# node_pids KEY: machine-side pids of every process of a node: those in its PID namespace and their
# descendants (containers have PID namespaces of their own below the node's). One pass over /proc.
node_pids() {
  local init ns
  init=$(node_init_pid "$1") || return 0
  ns=$(readlink "/proc/$init/ns/pid") || return 0
  # Processes exit while /proc is read (a node has short-lived ones: runc, conmon, probes): a file that
  # vanished between the glob and its read is no error. cat skips it; awk alone would stop with exit 2,
  # which set -e turns into a silent failure of whatever called this.
  {
    find /proc/[0-9]*/ns/pid -maxdepth 0 -printf 'N %p %l\n' 2>/dev/null || true
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
      awk '{ pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, a, " "); print "P", pid, a[2] }'
  } | awk -v ns="$ns" '
    $1 == "N" { split($2, p, "/"); if ($3 == ns) mark[p[3]] = 1; next }
    $1 == "P" { parent[$2] = $3 }
    END {
      for (pid in parent) {
        q = pid
        for (i = 0; i < 64 && q > 1 && !(q in mark); i++) q = parent[q]
        if (q in mark) print pid
      }
    }'
}

# node_exec KEY CMD...: runs CMD inside a running node (all its namespaces, its root), as its console would
node_exec() {
  local key=$1 init
  shift
  init=$(node_init_pid "$key") || die "node $key is not running"
  nsenter --target "$init" --mount --uts --net --pid --ipc --root --wd -- \
    /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM="${TERM:-dumb}" "$@"
}

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- host packages -------------------------------------------------------------------------------------
# ensure_packages PKG...: installs the Debian packages among PKG that are not installed (apt-get update once).
ensure_packages() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "missing host packages (${missing[*]}) and no apt-get to install them"
  log "installing host packages: ${missing[*]}"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# What a running cluster uses on the machine (and, through their root, inside its nodes): runc, conmon,
# the CNI plugins, podman (CRI-O's node console and the additional image stores), iptables (a node's
# loopback forwarding), jq (the node runc wrapper edits OCI specs), openssl, gcc + libc6-dev (static pause binary), iproute2, curl, util-linux
# (unshare, nsenter, setsid, flock), procps.
HOST_PACKAGES=(runc conmon containernetworking-plugins podman iptables jq openssl gcc libc6-dev iproute2 curl util-linux procps)
ensure_host_packages() { ensure_packages "${HOST_PACKAGES[@]}"; }

# ---- processes -----------------------------------------------------------------------------------------
pidfile() { echo "$STATE/run/$1.pid"; }

# Prints the pid recorded for a component if that process is still alive (and is the one we started:
# its /proc/PID/exe must be our binary), else nothing.
component_pid() {
  local f pid exe
  f=$(pidfile "$1")
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -d /proc/$pid ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ ${exe% (deleted)} == "$(component_binary "$1")" ]] || return 1
  echo "$pid"
}

component_binary() { echo "$LADING_BIN/$1"; }

# Starts a component in the background, in its own session, logging to $STATE/logs/NAME.log.
start_component() {
  local name=$1
  shift
  local logf=$STATE/logs/$name.log
  mkdir -p "$STATE/run" "$STATE/logs"
  log "starting $name"
  # setsid: own session and process group, so a Ctrl-C of the caller does not reach it
  setsid "$@" </dev/null >>"$logf" 2>&1 &
  echo $! >"$(pidfile "$name")"
}

show_logs() {
  local n=${1:-40} f
  for f in "$STATE"/logs/*.log "$STATE"/nodes/*/upper/var/log/lading/*.log; do
    [[ -f $f ]] || continue
    printf '\n===== last %s lines of %s =====\n' "$n" "$f" >&2
    tail -n "$n" "$f" >&2
  done
}

# wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND until it succeeds.
wait_for() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# wait_for_component NAME SECONDS DESCRIPTION COMMAND...: like wait_for, but gives up as soon as the
# component's process is gone.
wait_for_component() {
  local name=$1 timeout=$2 what=$3
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! component_pid "$name" >/dev/null; then
      log "$name exited (see $STATE/logs/$name.log)"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# All TCP ports the machine side listens on (loopback; the API server on the bridge).
cluster_ports() {
  echo "$ETCD_CLIENT_PORT $ETCD_PEER_PORT $ETCD_METRICS_PORT $APISERVER_PORT $CONTROLLER_MANAGER_PORT $SCHEDULER_PORT"
}

APISERVER_URL=https://$APISERVER_IP:$APISERVER_PORT

# curl against the API server with the admin identity
api() {
  curl -sS --fail --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" \
    "$@"
}

# ---- node lifecycle (up, reset, down) ---------------------------------------------------------------------
# A node's "disk" is $STATE/nodes/KEY/{upper,work,var-lib,cni-net.d,etc-containerd}: it survives a reset.
# Its /run is a tmpfs mounted at $STATE/nodes/KEY/run on the machine (so the machine reaches its sockets)
# and bound into the node: a reset unmounts it and mounts a fresh one. Everything else of a node lives in
# its namespaces and dies with its init.

node_cgroup_root() { echo "/$CGROUP_ROOT_NAME/$1"; }

# cgroup_dirs_for PATH: the directories of cgroup PATH in every hierarchy this machine has
cgroup_dirs_for() {
  local d
  if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then
    echo "/sys/fs/cgroup$1"
    return
  fi
  for d in /sys/fs/cgroup/*/; do
    d=${d%/}
    [[ $d == */unified ]] && continue # the v2 part of a hybrid host is not used by a v1 kubelet
    mountpoint -q "$d" || continue
    echo "$d$1"
  done
}

# create_cgroup PATH: the kubelet's cgroup root must exist before it starts (down removes it)
create_cgroup() {
  local path=$1 d parent
  if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then
    local cur=/sys/fs/cgroup part c
    for part in ${path//\// }; do
      for c in $(<"$cur/cgroup.controllers"); do echo "+$c" >"$cur/cgroup.subtree_control" 2>/dev/null || true; done
      cur=$cur/$part
      mkdir -p "$cur"
    done
    return
  fi
  for d in $(cgroup_dirs_for "$path"); do
    mkdir -p "$d"
    # a v1 cpuset child starts empty: give each level its parent's CPUs and memory nodes
    if [[ -f ${d%/*}/cpuset.cpus || -f $d/cpuset.cpus ]]; then
      local sub=${d#/sys/fs/cgroup/cpuset} cur=/sys/fs/cgroup/cpuset part
      for part in ${sub//\// }; do
        parent=$cur
        cur=$cur/$part
        [[ -n $(<"$cur/cpuset.cpus") ]] || cat "$parent/cpuset.cpus" >"$cur/cpuset.cpus"
        [[ -n $(<"$cur/cpuset.mems") ]] || cat "$parent/cpuset.mems" >"$cur/cpuset.mems"
      done
    fi
  done
}

# remove_cgroup PATH: kills what is left in it, then removes it, deepest first
remove_cgroup() {
  local d round pids
  for round in 1 2 3 4 5; do
    # cgroups and their processes vanish while they are read: not an error here (|| true, under pipefail)
    pids=$(for d in $(cgroup_dirs_for "$1"); do
      if [[ -d $d ]]; then find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true; fi
    done | sort -u)
    [[ -z $pids ]] && break
    log "killing $(wc -w <<<"$pids") process(es) left in cgroup $1 (round $round)"
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
    sleep 0.5
  done
  for d in $(cgroup_dirs_for "$1"); do
    # a cgroup whose last process is still exiting cannot be removed yet: try again, then leave it
    local try
    for try in 1 2 3 4 5 6 7 8 9 10; do
      [[ -d $d ]] || break
      find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      [[ -d $d ]] && sleep 0.2
    done
    [[ -d $d ]] && log "cgroup $d is still there (a process in it has not exited yet)"
  done
  return 0
}

# loopfwd_pid KEY: the node's loopback forwarder (a machine-side process) if it runs
loopfwd_pid() {
  local f=$STATE/nodes/$1/loopfwd.pid pid start
  [[ -s $f ]] || return 1
  read -r pid start <"$f" || return 1
  [[ $pid =~ ^[0-9]+$ && -d /proc/$pid && $(proc_start_time "$pid" 2>/dev/null) == "$start" ]] || return 1
  echo "$pid"
}

# node_boot KEY [FIRST_BOOT_HOOK]: powers a node on: namespaces and root (node/boot), its network, then its
# services in the order a real boot runs them. Its disk must exist (node_prepare). A hook (a function
# name, called with KEY) runs between the runtime and the kubelet: an installer's step of a first boot.
node_boot() {
  node_vars "$1"
  local key=$1 hook=${2:-} init i
  node_install_files "$key"
  mkdir -p "$N_DIR/run" "$STATE/logs"
  mountpoint -q "$N_DIR/run" || mount -t tmpfs -o mode=755,nosuid,nodev,size=1g "tmpfs-lading-$key" "$N_DIR/run"
  create_cgroup "$(node_cgroup_root "$key")"
  rm -f "$N_DIR/init.pid"
  setsid unshare --mount --uts --net --pid --ipc --fork --propagation private \
    bash "$LADING_CLUSTER_DIR/node/boot" "$key" </dev/null >>"$STATE/logs/node-$key.log" 2>&1 &
  for ((i = 0; i < 200; i++)); do
    if init=$(node_init_pid "$key") && [[ $(readlink "/proc/$init/exe") == "$STATE/bin/node-init" ]]; then break; fi
    sleep 0.1
  done
  init=$(node_init_pid "$key") || { tail -n 20 "$STATE/logs/node-$key.log" >&2; die "node $key did not start (see $STATE/logs/node-$key.log)"; }
  # the network: a veth from the node's eth0 to the bridge, the node's address, no default route
  ip link del "$N_VETH" >/dev/null 2>&1 || true
  ip link add "$N_VETH" type veth peer name eth0 netns "$init"
  ip link set "$N_VETH" master "$NODE_NET_BRIDGE" up
  nsenter --target "$init" --net ip addr add "$N_IP/${NODE_NET_CIDR#*/}" dev eth0
  nsenter --target "$init" --net ip link set eth0 up
  ip route replace "$N_POD_CIDR" via "$N_IP" dev "$NODE_NET_BRIDGE"
  # every other node's pods through that node (host-gw, as flannel's or Calico's routes on a flat
  # network), and forwarding on, so pods and NodePorts reach pods on other nodes
  local other
  for other in "${ALL_NODE_KEYS[@]}"; do
    [[ $other == "$key" ]] && continue
    (node_vars "$other" && nsenter --target "$init" --net ip route replace "$N_POD_CIDR" via "$N_IP" dev eth0)
  done
  node_vars "$key"
  # ClusterIPs: kube-proxy rewrites them in OUTPUT, after the route lookup, which a node without a default route needs
  nsenter --target "$init" --net ip route replace "$SERVICE_CIDR" dev eth0
  nsenter --target "$init" --net sysctl -qw net.ipv4.ip_forward=1
  # the machine's loopback registries (the specs' test/support/registry.ts) at the same address inside
  local range
  range=$(tr -s '[:space:]' ':' </proc/sys/net/ipv4/ip_local_port_range)
  range=${range%:}
  node_exec "$key" iptables -w -t nat -A OUTPUT -o lo -d "$LOOPBACK/32" -p tcp --dport "$range" \
    -j REDIRECT --to-ports "$LOOPFWD_PORT"
  setsid "$LADING_BIN/loopfwd" "/proc/$init/ns/net" "$LOOPFWD_PORT" </dev/null >>"$STATE/logs/loopfwd-$key.log" 2>&1 &
  local fwd=$!
  echo "$fwd $(proc_start_time "$fwd")" >"$N_DIR/loopfwd.pid"
  # the services, as the node's boot runs them
  local fail="node $key: its services did not start (test/cluster/ssh $key -- tail /var/log/lading/*.log)"
  if [[ -n $hook ]]; then
    node_exec "$key" /usr/local/lib/lading/service boot --no-kubelet || die "$fail"
    "$hook" "$key"
  fi
  node_exec "$key" /usr/local/lib/lading/service boot || die "$fail"
}

# node_power_off KEY: a power cut: SIGKILL to the node's init takes every process of the node with it
# (runtime, shims, conmon, containers, kubelet, consoles); its mounts go with its mount namespace; its
# /run (tmpfs) is unmounted. Its disk stays.
node_power_off() {
  node_vars "$1"
  local key=$1 init pids i p fwd
  if init=$(node_init_pid "$key"); then
    pids=$(node_pids "$key")
    kill -KILL "$init" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
      local alive=0
      for p in $pids; do [[ -d /proc/$p ]] && { alive=1; break; }; done
      ((alive == 0)) && break
      sleep 0.1
    done
  fi
  if fwd=$(loopfwd_pid "$key"); then kill -KILL "$fwd" 2>/dev/null || true; fi
  rm -f "$N_DIR/init.pid" "$N_DIR/loopfwd.pid"
  ip link del "$N_VETH" >/dev/null 2>&1 || true
  if mountpoint -q "$N_DIR/run" 2>/dev/null; then
    umount "$N_DIR/run" 2>/dev/null || umount -l "$N_DIR/run"
  fi
  # a rebooted machine starts with no cgroups: the node's are removed (empty once its processes are gone)
  remove_cgroup "$(node_cgroup_root "$key")"
}

# node_shutdown KEY: a clean shutdown: the node's services stop in order (kubelet, then the runtime:
# CRI-O records its clean shutdown), then the power goes
node_shutdown() {
  if node_init_pid "$1" >/dev/null; then
    node_exec "$1" /usr/local/lib/lading/service shutdown || log "node $1: its services did not all stop cleanly"
  fi
  node_power_off "$1"
}

# node_install_files KEY: the harness's programs in the node's /usr/local (links into the read-only
# binary cache, which every node sees at its own path); written into the node's upper layer while it is off
node_install_files() {
  node_vars "$1"
  local u=$N_DIR/upper b
  mkdir -p "$u/usr/local/bin" "$u/usr/local/lib/lading" "$u/usr/local/sbin"
  for b in kubelet kube-proxy crictl; do ln -sfn "$LADING_BIN/$b" "$u/usr/local/bin/$b"; done
  if [[ $N_RUNTIME == containerd ]]; then
    for b in containerd ctr containerd-shim-runc-v2; do ln -sfn "$LADING_BIN/$b" "$u/usr/local/bin/$b"; done
  else
    for b in crio pinns; do ln -sfn "$LADING_BIN/$b" "$u/usr/local/bin/$b"; done
    install -m 755 "$LADING_CLUSTER_DIR/node/runc-wrapper" "$u/usr/local/lib/lading/runc-wrapper"
  fi
  install -m 755 "$LADING_CLUSTER_DIR/node/service" "$u/usr/local/lib/lading/service"
  install -m 755 "$LADING_CLUSTER_DIR/node/systemctl" "$u/usr/local/bin/systemctl"
}
