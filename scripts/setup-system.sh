#!/usr/bin/env bash
# Installs the Debian packages the simulator and its tests use: SoftHSM2 (the keys), OpenSC's pkcs11-tool,
# OpenSSH and sshpass (clients of the simulated Luna appliance), openssl; p11-kit and p11-kit-modules (PKCS#11
# over NTLS: `p11-kit remote` on the appliance, p11-kit-client.so for clients) and libengine-pkcs11-openssl
# (OpenSSL using a partition key). With --with-test-tools also the
# Azure CLI, whose offline security-domain restore-blob the tests use to check the simulator's file format;
# with --with-bench-tools also wrk, the HTTPS load generator of bench/simulator-sign.ts.
# Needs root, or says what to run.
set -euo pipefail
packages=(softhsm2 opensc openssh-client sshpass openssl p11-kit p11-kit-modules libengine-pkcs11-openssl)
case "${1:-}" in
  '') ;;
  --with-test-tools) packages+=(azure-cli) ;;
  --with-bench-tools) packages+=(wrk) ;;
  *) echo "setup-system: unknown argument $1; allowed: --with-test-tools, --with-bench-tools" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: missing Debian packages: ${missing[*]}" >&2
  echo "setup-system: run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-system: installed ${missing[*]}"
