// Builds dist/lading.mjs: the whole CLI in one file, to carry to an air-gapped
// machine beside a Node.js >= 22.19 binary. With --sea (`npm run build`) also the single
// executables dist/lading-linux-{x64,arm64} that need no Node (scripts/sea.mjs); tests and
// bin/lading build without it, to stay fast.
import { build } from 'esbuild';
import { chmod, readFile, readdir, rename } from 'node:fs/promises';

// A small young generation: streamed chunks are freed at the next scavenge instead of piling up as
// garbage (measured: create's peak RSS 175-185 MiB -> about 150 MiB; throughput unchanged).
// A larger first old-generation limit: V8 starts it small, so with 1 MiB buffers flowing it marked lading's
// whole heap every 17 MiB streamed (40 full collections per 680 MiB sent to a node); from 64 MiB on it
// settles at about 11 (measured on the node archive sent over TLS: 1.41-1.50 -> 1.22-1.25 CPU s; lading's
// CPU in an install of the six-image set on one node 5.5 -> 4.0 s). Its price: about 70 ms more at every
// start, as Node's code cache for its own modules is made for V8's default flags and is not used.
// bin/lading and scripts/sea.mjs read these flags from the #! line (the executables' execArgv).
const NODE_FLAGS = '--max-semi-space-size=2 --initial-old-space-size=64';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));

// templates/ travels inside the single file (src/core/config/templates.ts reads it from there).
const templatesDir = new URL('../templates/', import.meta.url);
const templates = {};
for (const entry of await readdir(templatesDir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || entry.name === 'README.md') continue;
  const full = `${entry.parentPath}/${entry.name}`;
  templates[full.slice(templatesDir.pathname.length)] = await readFile(full, 'utf8');
}
// Written beside the output and renamed: a CLI started meanwhile runs the old file or the new one, never half of one.
const partial = `dist/.lading.mjs.partial-${process.pid}`;
const result = await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: partial,
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  // Whitespace and comments out, names kept: V8 holds the whole source in memory (as UTF-16 once a
  // single character is not Latin-1), so this is RSS every run pays; stack traces still name functions.
  minifyWhitespace: true,
  keepNames: true,
  charset: 'ascii',
  sourcemap: false,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  define: {
    __LADING_VERSION__: JSON.stringify(pkg.version),
    __LADING_TEMPLATES__: JSON.stringify(templates),
    'process.env.DEV': '"false"',
  },
  plugins: [
    {
      // Ink imports its devtools bridge (and react-devtools-core, not installed)
      // only when DEV=true; the CLI never runs that way, so it becomes empty.
      name: 'no-ink-devtools',
      setup(b) {
        b.onResolve({ filter: /^react-devtools-core$|\/devtools\.js$/ }, (args) => ({ path: args.path, namespace: 'empty' }));
        b.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'export default {};', loader: 'js' }));
      },
    },
  ],
  banner: {
    // Runnable as ./lading.mjs with NODE_FLAGS (see bin/lading for why). Some dependencies are CommonJS
    // and call require(); give the ESM bundle one.
    js: [
      `#!/usr/bin/env -S node ${NODE_FLAGS}`,
      "import { createRequire as __ladingCreateRequire } from 'node:module'; const require = __ladingCreateRequire(import.meta.url);",
      // Before any bundled module runs (undici needs Node >= 22.19): one line instead of a crash deep inside a dependency.
      "if (!/^v(2[3-9]|[3-9]\\d|22\\.(19|[2-9]\\d))/.test(process.version)) { process.stderr.write(`lading needs Node.js >= 22.19 (this is ${process.version}); bin/lading fetches Node 24 itself.\\n`); process.exit(2); }",
    ].join('\n'),
  },
});
await chmod(partial, 0o755);
await rename(partial, 'dist/lading.mjs');
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
console.log(`dist/lading.mjs ${(bytes / 1024 / 1024).toFixed(1)} MiB`);
if (process.argv.includes('--sea')) {
  const { buildExecutables, describeExecutable } = await import('./sea.mjs');
  for (const built of await buildExecutables()) console.log(describeExecutable(built));
}
