#!/usr/bin/env bash
# The test command behind `npm test` (and `npm run test:unit`): type-check,
# build the single-file CLI the integration tests run, then one node:test run
# over unit tests (next to the code) and integration tests (real registry,
# skopeo, umoci). A missing tool fails its tests with the install command.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scope=${1:-all}

echo "== typecheck"
tsc --noEmit -p .
echo "== build"
node scripts/build.mjs

files=('src/**/*.test.ts' 'src/**/*.test.tsx')
if [ "$scope" = all ]; then
  files+=('test/support/*.test.ts' 'test/integration/*.test.ts')
fi
echo "== node --test ${files[*]}"
exec node --import tsx --test --test-reporter=spec "${files[@]}"
