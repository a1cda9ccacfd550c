#!/bin/bash
# Install what the Python venv cannot: a JDK for Spark, the PostgreSQL server used as the
# local warehouse, and Chromium (the report's browser test opens report.html in it, headless).
# Debian/Ubuntu packages; a no-op when all are present.
set -euo pipefail

need=()
if ! command -v java >/dev/null 2>&1 && [ ! -x "${JAVA_HOME:-/nonexistent}/bin/java" ]; then
  need+=(openjdk-17-jdk-headless)
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
# Debian names the browser chromium; Ubuntu's chromium is a snap stub, so set CRISISLAKE_CHROMIUM there.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${CRISISLAKE_CHROMIUM:-}" ]; then
  need+=(chromium)
fi
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "need root (or sudo) to install: ${need[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
# The Debian package starts its own cluster on 5432; crisislake runs a private one on another port.
$SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
