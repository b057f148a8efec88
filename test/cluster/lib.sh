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
# The sandbox image containerd is configured to use; the harness builds it and imports it under this name.
LADING_SANDBOX_IMAGE=registry.k8s.io/pause:3.10

# ---- paths ----------------------------------------------------------------------------------------------
LADING_CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LADING_REPO_DIR=$(cd "$LADING_CLUSTER_DIR/../.." && pwd)
LADING_CACHE_ROOT=${LADING_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lading/cluster}
LADING_BIN=$LADING_CACHE_ROOT/$LADING_K8S_VERSION/bin
STATE=$(realpath -m "${LADING_CLUSTER_STATE:-/tmp/lading-cluster}")

# ---- addresses (loopback only, non-default ports) --------------------------------------------------------
# The node is named after its loopback address: the kubelet only accepts a loopback address for its node
# when the node name itself is that address, and the API server reaches the kubelet through it.
# (A second node would be 127.0.0.2, with its own kubelet port on that address.)
NODE_IP=127.0.0.1
NODE_NAME=$NODE_IP
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
ETCD_METRICS_PORT=23810
APISERVER_PORT=16443
CONTROLLER_MANAGER_PORT=20257
SCHEDULER_PORT=20259
KUBELET_PORT=20250
KUBELET_HEALTHZ_PORT=20248
SERVICE_CIDR=10.213.0.0/24
SERVICE_FIRST_IP=10.213.0.1
POD_SUBNET=10.212.0.0/24
POD_GATEWAY=10.212.0.1
CNI_BRIDGE=lading0
CNI_NETWORK=lading-pods
CLUSTER_NAME=lading
# cgroup parent of everything the kubelet runs (created by up, removed by down)
CGROUP_ROOT_NAME=lading

# Components in start order; down stops them in reverse order.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet)

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- host packages -------------------------------------------------------------------------------------
# Debian packages the harness uses: runc, the CNI plugins, openssl, gcc + libc6-dev (static pause binary),
# iproute2 (bridge clean-up), curl (health checks), util-linux (setsid, flock, umount).
ensure_host_packages() {
  local -A need=(
    [runc]=/usr/sbin/runc [containernetworking-plugins]=/usr/lib/cni/bridge [openssl]=/usr/bin/openssl
    [gcc]=/usr/bin/gcc [libc6-dev]=/usr/lib/x86_64-linux-gnu/libc.a [iproute2]=/usr/sbin/ip
    [curl]=/usr/bin/curl [util-linux]=/usr/bin/setsid
  )
  local pkg missing=()
  for pkg in "${!need[@]}"; do
    # libc.a lives under the multiarch directory of the host
    if [[ $pkg == libc6-dev ]]; then
      compgen -G '/usr/lib/*-linux-gnu/libc.a' >/dev/null || missing+=("$pkg")
      continue
    fi
    [[ -x ${need[$pkg]} ]] || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "missing host packages (${missing[*]}) and no apt-get to install them"
  log "installing host packages: ${missing[*]}"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

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
  for f in "$STATE"/logs/*.log; do
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

# All TCP ports the cluster listens on (loopback).
cluster_ports() {
  echo "$ETCD_CLIENT_PORT $ETCD_PEER_PORT $ETCD_METRICS_PORT $APISERVER_PORT $CONTROLLER_MANAGER_PORT" \
    "$SCHEDULER_PORT $KUBELET_PORT $KUBELET_HEALTHZ_PORT"
}

# curl against the API server with the admin identity
api() {
  curl -sS --fail --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" \
    "$@"
}
