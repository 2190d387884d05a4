#!/usr/bin/env bash
# Builds the publishable @pulsar-seam/client tarball into DEST (default: the current
# directory) and prints its path. In this repository the package runs from its TypeScript
# sources; Node does not strip types under node_modules, so the tarball carries JavaScript
# and declarations (lib/), the proto (proto/) and the README. Everything is built in a
# scratch directory: the working tree is left as it is.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
dest=$(realpath "${1:-.}")
sdk="$root/clients/ts"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# The manifest: this one's, with entry points moved from src/*.ts to lib/*.js.
node -e '
const pkg = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
for (const [entry, source] of Object.entries(pkg.exports)) {
  const base = source.replace(/^\.\/src\//, "./lib/").replace(/\.ts$/, "");
  pkg.exports[entry] = { types: `${base}.d.ts`, default: `${base}.js` };
}
pkg.files = ["lib", "proto", "README.md"];
delete pkg.private;
process.stdout.write(JSON.stringify(pkg, null, 2) + "\n");
' "$sdk/package.json" >"$stage/package.json"
mkdir "$stage/src"
cp "$sdk"/src/*.ts "$stage/src/"
cp "$sdk/README.md" "$stage/"
bash "$root/scripts/gen.sh" sdk "$stage"
# Compiled with the repository's settings and dependencies.
ln -s "$root/node_modules" "$stage/node_modules"
cat >"$stage/tsconfig.json" <<JSON
{
  "extends": "$root/tsconfig.json",
  "compilerOptions": {
    "noEmit": false,
    "declaration": true,
    "rewriteRelativeImportExtensions": true,
    "rootDir": "src",
    "outDir": "lib"
  },
  "include": ["src"]
}
JSON
tsc -p "$stage/tsconfig.json"
(cd "$stage" && npm pack --silent --pack-destination "$dest" | sed "s|^|$dest/|")
