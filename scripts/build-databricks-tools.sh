#!/usr/bin/env bash
# Builds the pinned Databricks CLI and the fake-workspace program (tools/fake-workspace) from the
# Go module proxy into a cache folder, once per version, and prints that folder.
#
#   scripts/build-databricks-tools.sh [CACHE_DIR]     # default: .cache/databricks-tools
#
# The binaries land in CACHE_DIR/<cli version>/ only when both built, so an interrupted build
# leaves nothing a later run would mistake for a finished one.
set -euo pipefail

cd "$(dirname "$0")/.."
mkdir -p "${1:-.cache/databricks-tools}"
cache_dir="$(cd "${1:-.cache/databricks-tools}" && pwd)"
module_dir="tools/fake-workspace"

if ! command -v go >/dev/null; then
  echo "error: building the Databricks CLI needs Go 1.26 or newer on the PATH (https://go.dev/dl/)" >&2
  exit 1
fi

version="$(cd "$module_dir" && go list -m -f '{{.Version}}' github.com/databricks/cli)"
target="$cache_dir/$version"
if [[ -x "$target/databricks" && -x "$target/fake-workspace" ]]; then
  echo "$target"
  exit 0
fi

echo "Building Databricks CLI $version and the fake workspace (first run only, a few minutes)..." >&2
staging="$(mktemp -d "$cache_dir/.build-XXXXXX")"
trap 'rm -rf "$staging"' EXIT
started=$SECONDS
(
  cd "$module_dir"
  # The version the CLI reports, as in its release builds.
  go build -buildvcs=false -trimpath \
    -ldflags "-X github.com/databricks/cli/internal/build.buildVersion=${version#v}" \
    -o "$staging/databricks" github.com/databricks/cli
  go build -buildvcs=false -trimpath -o "$staging/fake-workspace" .
)
rm -rf "$target"
mv "$staging" "$target"
echo "Built $("$target/databricks" --version) in $((SECONDS - started)) s." >&2
echo "$target"
