#!/usr/bin/env bash
# Installs the Lifeboat agent on a k3s server (Debian / Raspberry Pi OS, arm64 or x86-64) from this
# checkout, as root:
#
#   /usr/local/bin/lifeboat-agent          → <checkout>/agent/bin/lifeboat-agent.js (bundle built once)
#   /etc/lifeboat/              0700       the agent's secrets and settings, root only:
#     passphrase                0600       the backup passphrase (--passphrase-file, the seed job's
#                                          /etc/backup/gpg-passphrase, or a new random one)
#     agent-token               0600       the dashboard's bearer token (48 random characters)
#     tls/agent.crt, agent.key  0644/0600  a self-signed certificate the dashboard pins
#     agent.env                 0600       from deploy/agent.env: fill in the store
#   /etc/systemd/system/lifeboat-agent.service, enabled (and started unless --no-start)
#
# Idempotent: a second run changes nothing the operator made or changed — existing secrets, a
# changed agent.env and a changed unit are kept (the shipped unit is then put beside it as
# lifeboat-agent.service.dist). At the end it prints what the dashboard needs.
#
# Usage: deploy/install-agent.sh [--root DIR] [--passphrase-file FILE] [--no-build] [--no-start]
#   --root DIR   install into DIR instead of / (a throwaway root for tests); nothing is started.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }

ROOT=""
PASSPHRASE_FROM=""
BUILD=1
START=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --root=*) ROOT="${1#--root=}"; shift ;;
    --passphrase-file) PASSPHRASE_FROM="${2:?--passphrase-file needs a file}"; shift 2 ;;
    --passphrase-file=*) PASSPHRASE_FROM="${1#--passphrase-file=}"; shift ;;
    --no-build) BUILD=0; shift ;;
    --no-start) START=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-agent.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "install-agent.sh: run it as root (sudo $0 $*): it writes /etc/lifeboat and a systemd unit." >&2
  exit 1
fi
if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT"
  ROOT="$(cd "$ROOT" && pwd)"
  START=0
fi

CHECKOUT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ETC="$ROOT/etc/lifeboat"
UNIT_DIR="$ROOT/etc/systemd/system"
BIN="$ROOT/usr/local/bin/lifeboat-agent"
say() { printf '%s\n' "$*"; }

# 0. The passphrase asked for, before anything changes: readable, and not another one than the one
#    installed (which is kept: the backups made with it need it), so backups never go out silently
#    with a passphrase the operator did not choose.
if [ -n "$PASSPHRASE_FROM" ]; then
  if [ ! -f "$PASSPHRASE_FROM" ] || [ ! -r "$PASSPHRASE_FROM" ]; then
    echo "install-agent.sh: cannot read the passphrase file $PASSPHRASE_FROM. Nothing was changed." >&2
    exit 1
  fi
  if [ -s "$ETC/passphrase" ] && ! cmp -s "$PASSPHRASE_FROM" "$ETC/passphrase"; then
    echo "install-agent.sh: $ETC/passphrase already holds another passphrase than $PASSPHRASE_FROM, and is kept (the backups made with it need it). Nothing was changed. To back up with $PASSPHRASE_FROM instead, keep a copy of $ETC/passphrase, remove it, run this again, then back up once with lifeboat-agent backup --allow-new-passphrase." >&2
    exit 1
  fi
fi

# 1. Node.js 20.9 or newer (Debian 12 ships 18: take NodeSource's there), and the tools used here.
command -v openssl >/dev/null || { echo "install-agent.sh: openssl is missing: apt-get install -y openssl" >&2; exit 1; }
command -v node >/dev/null || { echo "install-agent.sh: Node.js is missing: install Node.js 20.9 to 22 (Debian 13: apt-get install nodejs npm)." >&2; exit 1; }
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=9)?0:1)'; then
  echo "install-agent.sh: Node.js $(node --version) is too old: the agent needs 20.9 to 22 (Debian 12: NodeSource's nodejs)." >&2
  exit 1
fi
if [ ! -d "$CHECKOUT/node_modules" ]; then
  echo "install-agent.sh: $CHECKOUT has no node_modules: run npm ci there first." >&2
  exit 1
fi

# 2. The agent: its bundle built once (the bin rebuilds it when the sources change), the command linked.
if [ "$BUILD" = 1 ] && [ ! -f "$CHECKOUT/agent/dist/current" ]; then
  say "Building the agent bundle (npm run build:agent)…"
  (cd "$CHECKOUT" && node agent/bin/build-agent.mjs)
fi
install -d -m 0755 "$(dirname "$BIN")"
if [ "$(readlink "$BIN" 2>/dev/null || true)" != "$CHECKOUT/agent/bin/lifeboat-agent.js" ]; then
  ln -sfn "$CHECKOUT/agent/bin/lifeboat-agent.js" "$BIN"
  say "Linked $BIN → $CHECKOUT/agent/bin/lifeboat-agent.js"
fi

# 3. /etc/lifeboat and its secrets, each made only when missing.
install -d -m 0700 -o root -g root "$ETC" "$ETC/tls"
chmod 0700 "$ETC" "$ETC/tls"
umask 077
if [ ! -s "$ETC/passphrase" ]; then
  if [ -n "$PASSPHRASE_FROM" ]; then
    install -m 0600 -o root -g root "$PASSPHRASE_FROM" "$ETC/passphrase"
    say "Passphrase: copied from $PASSPHRASE_FROM."
  elif [ -s "$ROOT/etc/backup/gpg-passphrase" ]; then
    install -m 0600 -o root -g root "$ROOT/etc/backup/gpg-passphrase" "$ETC/passphrase"
    say "Passphrase: copied from /etc/backup/gpg-passphrase (the seed job's), so both kinds of sets open with it."
  else
    openssl rand -base64 33 > "$ETC/passphrase"
    say "Passphrase: a new random one in $ETC/passphrase. KEEP A COPY somewhere that does not depend on this server: without it no backup opens."
  fi
fi
if [ ! -s "$ETC/agent-token" ]; then
  # 36 random bytes → 48 base64url characters (the agent and the dashboard want 32 or more).
  openssl rand -base64 36 | tr '+/' '-_' | tr -d '=\n' > "$ETC/agent-token"
  printf '\n' >> "$ETC/agent-token"
  say "Agent token: a new one in $ETC/agent-token."
fi
if [ ! -s "$ETC/tls/agent.key" ] || [ ! -s "$ETC/tls/agent.crt" ]; then
  host="$(hostname)"
  san="DNS:$host,DNS:localhost,IP:127.0.0.1"
  for ip in $(hostname -I 2>/dev/null || true); do san="$san,IP:$ip"; done
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=$host lifeboat-agent" -addext "subjectAltName=$san" \
    -keyout "$ETC/tls/agent.key.tmp" -out "$ETC/tls/agent.crt.tmp" 2>/dev/null
  mv "$ETC/tls/agent.key.tmp" "$ETC/tls/agent.key"
  mv "$ETC/tls/agent.crt.tmp" "$ETC/tls/agent.crt"
  say "TLS: a self-signed certificate for $san in $ETC/tls/."
fi
chmod 0600 "$ETC/passphrase" "$ETC/agent-token" "$ETC/tls/agent.key"
chmod 0644 "$ETC/tls/agent.crt"
if [ ! -e "$ETC/agent.env" ]; then
  install -m 0600 -o root -g root "$CHECKOUT/deploy/agent.env" "$ETC/agent.env"
  say "Settings: $ETC/agent.env — fill in the store (AWS_S3_* or LIFEBOAT_BACKUP_DIR) and LIFEBOAT_OWNER."
fi
chmod 0600 "$ETC/agent.env"

# 4. The unit: installed when missing, left alone when the operator changed it.
install -d -m 0755 "$UNIT_DIR" "$UNIT_DIR/multi-user.target.wants"
UNIT="$UNIT_DIR/lifeboat-agent.service"
if [ ! -e "$UNIT" ]; then
  install -m 0644 "$CHECKOUT/deploy/lifeboat-agent.service" "$UNIT"
  say "Unit: $UNIT"
elif ! cmp -s "$CHECKOUT/deploy/lifeboat-agent.service" "$UNIT"; then
  install -m 0644 "$CHECKOUT/deploy/lifeboat-agent.service" "$UNIT.dist"
  say "Unit: $UNIT differs from the shipped one and is kept; the shipped one is $UNIT.dist (put your changes in systemctl edit lifeboat-agent)."
fi
# What `systemctl enable` does for WantedBy=multi-user.target, also in a throwaway root.
ln -sfn /etc/systemd/system/lifeboat-agent.service "$UNIT_DIR/multi-user.target.wants/lifeboat-agent.service"
if [ "$START" = 1 ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable lifeboat-agent.service >/dev/null 2>&1 || true
  systemctl restart lifeboat-agent.service
  say "Started lifeboat-agent (journalctl -u lifeboat-agent)."
fi

# 5. What the dashboard needs.
fingerprint="$(openssl x509 -in "$ETC/tls/agent.crt" -noout -fingerprint -sha256 | sed 's/^.*=//')"
port="$(sed -n 's/^LIFEBOAT_AGENT_PORT=//p' "$ETC/agent.env" | tail -n1)"
addr="$(hostname -I 2>/dev/null | awk '{print $1}')"
say ""
say "The agent is installed. Give the dashboard:"
say "  LIFEBOAT_AGENT_URL=https://${addr:-$(hostname)}:${port:-7070}"
say "  LIFEBOAT_AGENT_TOKEN_FILE=<a copy of /etc/lifeboat/agent-token, readable only by the dashboard>"
say "  LIFEBOAT_AGENT_FINGERPRINT=$fingerprint"
say ""
say "Then check this server: lifeboat-agent doctor   (with the settings: set -a; . /etc/lifeboat/agent.env; set +a)"
