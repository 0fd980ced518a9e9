#!/usr/bin/env bash
# Installs the pinned Databricks CLI release into the directory given as the only argument, after
# checking the downloaded archive against the SHA-256 pinned here.
#
# To upgrade, change the version and take both checksums from the SHA256SUMS file published with
# that release on https://github.com/databricks/cli/releases.
set -euo pipefail

VERSION="1.9.0"
SHA256_LINUX_AMD64="10938da31db7f89e6e90f6be41d340e3387231e5da5125cfc97ecb8cb66f6394"
SHA256_LINUX_ARM64="a4fcc3b70ed4b26f0e8064e39287d0692218cf3d2f549042d66d04c9ad2d692a"

target_dir="${1:?usage: install-databricks-cli.sh TARGET_DIR}"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64 | Linux-amd64) arch=amd64 sha256="$SHA256_LINUX_AMD64" ;;
  Linux-aarch64 | Linux-arm64) arch=arm64 sha256="$SHA256_LINUX_ARM64" ;;
  *)
    echo "No Databricks CLI checksum is pinned for $(uname -s) $(uname -m):" \
      "run this on Linux x86_64 or arm64" >&2
    exit 1
    ;;
esac

archive="databricks_cli_${VERSION}_linux_${arch}.zip"
work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

curl --fail --silent --show-error --location --retry 3 --output "$work_dir/$archive" \
  "https://github.com/databricks/cli/releases/download/v${VERSION}/${archive}"
echo "$sha256  $work_dir/$archive" | sha256sum --check --strict
python3 -m zipfile -e "$work_dir/$archive" "$work_dir/extracted"
mkdir -p "$target_dir"
install -m 0755 "$work_dir/extracted/databricks" "$target_dir/databricks"
"$target_dir/databricks" --version
