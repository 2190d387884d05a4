# Sourced by the scripts in this folder: paths, and the project's own Node 24 first on PATH.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$root/node_modules/.bin:$PATH"
venv="$root/.venv"
python="$venv/bin/python"
pulsar="$root/pulsar/pulsar.sh"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

require_node_modules() {
  [ -x "$root/node_modules/.bin/node" ] || die "dependencies are not installed: run 'npm install' in $root first"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 24 ] || die "node on PATH is $(node --version), Seam needs 24: run 'npm install' to get the project's own Node 24"
}
