#!/bin/sh
# edgegate installer for Debian 12 (bookworm) and Raspberry Pi OS (64-bit, arm64).
#
#   sudo sh deploy/install.sh                 # from a checkout of edgegate (this repository)
#   sudo NODE_SOURCE=tarball sh deploy/install.sh
#
# What it does (docs/install.md explains each step):
#   1. Node.js >= 20: keeps a system node that is new enough; else installs one
#      (NODE_SOURCE=nodesource: NodeSource's apt repository, the default;
#       NODE_SOURCE=tarball: the official nodejs.org build under /opt/edgegate/node).
#      Debian 12's own nodejs package is 18, below what edgegate needs.
#   2. Build tools for better-sqlite3 (python3, make, g++), used only when npm finds
#      no prebuilt binary for this CPU/Node combination.
#   3. Builds edgegate in a scratch copy, then installs only the production
#      dependencies (`npm ci --omit=dev`) and dist/ under /opt/edgegate/app.
#   4. A system user `edgegate`, config in /etc/edgegate, state in /var/lib/edgegate.
#   5. The hardened systemd unit; enables and starts it (START=no to skip).
# Re-running it upgrades in place and keeps /etc/edgegate and /var/lib/edgegate.
set -eu

NODE_MAJOR="${NODE_MAJOR:-20}"
NODE_SOURCE="${NODE_SOURCE:-nodesource}"
PREFIX="${PREFIX:-/opt/edgegate}"
START="${START:-yes}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo sh deploy/install.sh)"
[ -f "$SRC/package.json" ] && [ -f "$SRC/deploy/edgegate.service" ] || die "run from an edgegate checkout (deploy/install.sh)"
command -v apt-get >/dev/null || die "apt-get not found: this script is for Debian and Raspberry Pi OS"

ARCH="$(dpkg --print-architecture)"
case "$ARCH" in
  amd64) NODE_ARCH=x64 ;;
  arm64) NODE_ARCH=arm64 ;;
  armhf) die "32-bit Raspberry Pi OS (armhf) is not supported: install the 64-bit (arm64) image" ;;
  *) die "unsupported architecture $ARCH" ;;
esac

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# --- 1. Node.js >= 20 --------------------------------------------------------------
NODE_BIN=""
if command -v node >/dev/null && [ "$(node_major node)" -ge 20 ]; then
  NODE_BIN="$(command -v node)"
  say "using Node.js $(node --version) at $NODE_BIN"
elif [ "$NODE_SOURCE" = "tarball" ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ca-certificates curl xz-utils >/dev/null
  VERSION="$(curl -fsSL "https://nodejs.org/dist/latest-v${NODE_MAJOR}.x/SHASUMS256.txt" | sed -n "s/.*node-\(v[0-9.]*\)-linux-${NODE_ARCH}\.tar\.xz$/\1/p" | head -n1)"
  [ -n "$VERSION" ] || die "could not find the latest Node.js ${NODE_MAJOR}.x for linux-${NODE_ARCH}"
  TARBALL="node-${VERSION}-linux-${NODE_ARCH}.tar.xz"
  TMP="$(mktemp -d)"
  say "downloading $TARBALL from nodejs.org (checksum verified)"
  curl -fsSL -o "$TMP/$TARBALL" "https://nodejs.org/dist/${VERSION}/${TARBALL}"
  curl -fsSL -o "$TMP/SHASUMS256.txt" "https://nodejs.org/dist/${VERSION}/SHASUMS256.txt"
  (cd "$TMP" && grep " ${TARBALL}\$" SHASUMS256.txt | sha256sum -c -) >/dev/null || die "checksum mismatch for $TARBALL"
  rm -rf "$PREFIX/node" && mkdir -p "$PREFIX/node"
  tar -xJf "$TMP/$TARBALL" -C "$PREFIX/node" --strip-components=1
  rm -rf "$TMP"
  NODE_BIN="$PREFIX/node/bin/node"
  export PATH="$PREFIX/node/bin:$PATH"
else
  say "installing Node.js ${NODE_MAJOR}.x from NodeSource's apt repository"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ca-certificates curl gnupg >/dev/null
  install -d -m 0755 /etc/apt/keyrings
  curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor --yes -o /etc/apt/keyrings/nodesource.gpg
  echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_${NODE_MAJOR}.x nodistro main" > /etc/apt/sources.list.d/nodesource.list
  apt-get update -qq
  apt-get install -y -qq nodejs >/dev/null
  NODE_BIN="$(command -v node)"
fi
[ "$(node_major "$NODE_BIN")" -ge 20 ] || die "Node.js at $NODE_BIN is $("$NODE_BIN" --version), need >= 20"
NPM="$(dirname "$NODE_BIN")/npm"
[ -x "$NPM" ] || NPM="$(command -v npm)" || die "npm not found next to $NODE_BIN"

# --- 2. build tools for better-sqlite3 ------------------------------------------------
say "installing build tools for better-sqlite3 (python3, make, g++)"
apt-get install -y -qq --no-install-recommends python3 make g++ git >/dev/null

# --- 3. build, then a production-only install ------------------------------------------
BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
say "building edgegate in $BUILD"
tar -C "$SRC" --exclude=./node_modules --exclude=./dist --exclude=./data --exclude=./test-artifacts -cf - . | tar -C "$BUILD" -xf -
# The commit, for edgegate_build_info and --version, even though the copy has no .git.
EDGEGATE_REVISION="$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo "")"
export EDGEGATE_REVISION
(cd "$BUILD" && "$NPM" ci --no-audit --no-fund --loglevel=error) # its prepare script builds dist/
say "installing into $PREFIX/app (production dependencies only)"
mkdir -p "$PREFIX/app" "$PREFIX/bin"
rm -rf "$PREFIX/app.new" && mkdir "$PREFIX/app.new"
cp -R "$BUILD/dist" "$BUILD/package.json" "$BUILD/package-lock.json" "$BUILD/proto" "$BUILD/deploy" "$PREFIX/app.new/"
mkdir -p "$PREFIX/app.new/gateway/http" && cp -R "$BUILD/gateway/http/ui" "$PREFIX/app.new/gateway/http/"
(cd "$PREFIX/app.new" && "$NPM" ci --omit=dev --no-audit --no-fund --loglevel=error)
rm -rf "$PREFIX/app.old"
[ -d "$PREFIX/app" ] && mv "$PREFIX/app" "$PREFIX/app.old"
mv "$PREFIX/app.new" "$PREFIX/app"
rm -rf "$PREFIX/app.old"
ln -sfn "$NODE_BIN" "$PREFIX/bin/node"

# --- 4. user, config, state -----------------------------------------------------------
if ! getent passwd edgegate >/dev/null; then
  say "creating system user edgegate"
  adduser --system --group --home /var/lib/edgegate --no-create-home --shell /usr/sbin/nologin edgegate
fi
install -d -m 0750 -o root -g edgegate /etc/edgegate
install -d -m 0750 -o edgegate -g edgegate /var/lib/edgegate
if [ ! -f /etc/edgegate/edgegate.yaml ]; then
  say "writing /etc/edgegate/edgegate.yaml (the built-in defaults: edit remote_write first)"
  "$NODE_BIN" "$PREFIX/app/dist/gateway/main.js" --print-defaults > /etc/edgegate/edgegate.yaml
  chown root:edgegate /etc/edgegate/edgegate.yaml && chmod 0640 /etc/edgegate/edgegate.yaml
fi
if [ ! -f /etc/edgegate/edgegate.env ]; then
  printf '# Environment for edgegate: variables used as ${NAME} in edgegate.yaml (secrets, site names).\n# RW_PASSWORD=...\n' > /etc/edgegate/edgegate.env
  chown root:edgegate /etc/edgegate/edgegate.env && chmod 0640 /etc/edgegate/edgegate.env
fi
"$NODE_BIN" "$PREFIX/app/dist/gateway/main.js" --check-config /etc/edgegate/edgegate.yaml

# --- 5. systemd ------------------------------------------------------------------------
install -m 0644 "$PREFIX/app/deploy/edgegate.service" /etc/systemd/system/edgegate.service
systemctl daemon-reload
if [ "$START" = "yes" ]; then
  systemctl enable edgegate.service >/dev/null
  systemctl restart edgegate.service
  say "edgegate is running: systemctl status edgegate; status page on http://$(hostname):9480/"
else
  say "installed; start with: systemctl enable --now edgegate"
fi
