#!/usr/bin/env bash
# Sourced by the project's scripts: puts a Node.js >= 24 first on PATH.
# The system Node may be older (Debian ships 20, end-of-life); then Node 24 is
# fetched once from the npm registry (the binary package behind the `node`
# package, node-<os>-<arch>) and cached outside the repository, keyed by version.
# scripts/sea.mjs takes the binaries of its single executables from the same cache.
LADING_NODE_VERSION="${LADING_NODE_VERSION:-24.21.0}"

# `node --version` answers before V8 starts (4 ms; `node -p` takes 40-100 ms, paid on every lading run).
lading_node_major() {
  local v
  v=$("$1" --version 2>/dev/null) || v=v0
  v=${v#v}
  v=${v%%.*}
  case "$v" in '' | *[!0-9]*) echo 0 ;; *) echo "$v" ;; esac
}

# Prints the directory of Node $LADING_NODE_VERSION for OS and ARCH (npm's names:
# linux, x64 or arm64; any ARCH, not only this machine's), fetched first if absent.
lading_node_dir() {
  local os=$1 arch=$2 cache dir
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/lading/node/$LADING_NODE_VERSION"
  dir="$cache/$os-$arch"
  if [ ! -x "$dir/bin/node" ]; then
    if ! command -v npm >/dev/null; then
      echo "lading: Node $(node --version 2>/dev/null || echo none) is too old and npm is missing to fetch Node 24; install Node >= 24" >&2
      return 1
    fi
    echo "lading: fetching Node $LADING_NODE_VERSION ($os-$arch) from the npm registry into $cache" >&2
    local tmp
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && npm pack --silent "node-$os-$arch@$LADING_NODE_VERSION" >/dev/null 2>npm.log); then
      cat "$tmp/npm.log" >&2
      rm -rf "$tmp"
      echo "lading: could not fetch node-$os-$arch@$LADING_NODE_VERSION from the npm registry" >&2
      return 1
    fi
    if ! { mkdir -p "$tmp/x" && tar -xzf "$tmp"/node-*.tgz -C "$tmp/x" && mkdir -p "$cache" && rm -rf "$dir" && mv "$tmp/x/package" "$dir"; }; then
      rm -rf "$tmp"
      echo "lading: could not unpack Node $LADING_NODE_VERSION into $cache (set XDG_CACHE_HOME to a writable directory)" >&2
      return 1
    fi
    rm -rf "$tmp"
  fi
  printf '%s\n' "$dir"
}

lading_ensure_node() {
  local sys
  sys=$(command -v node || true)
  if [ -n "$sys" ] && [ "$(lading_node_major "$sys")" -ge 24 ]; then
    return 0
  fi
  local os arch dir
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) echo "lading: no Node 24 build for $(uname -m); install Node >= 24 yourself" >&2; return 1 ;;
  esac
  dir=$(lading_node_dir "$os" "$arch") || return 1
  export PATH="$dir/bin:$PATH"
}
