// The entry of the single executables (scripts/sea.mjs). Node 24's SEA main must be CommonJS, and
// lading.mjs cannot be: it (and yoga-layout, ink) use top-level await. So this loads the embedded
// asset lading.mjs as the ES module it is, under the executable's own URL: its createRequire(import.meta.url)
// then works, and nothing is read from disk.
'use strict';
const { enableCompileCache, registerHooks } = require('node:module');
const fs = require('node:fs');
const path = require('node:path');
const { getAsset } = require('node:sea');
const { pathToFileURL } = require('node:url');

// V8's compiled code of the 6 MiB lading.mjs, kept between runs where bin/lading keeps it (keyed by the
// source's hash, so other builds never share it): start-up 0.25 s -> 0.12-0.15 s. A cache that cannot be
// written only costs that time again; NODE_DISABLE_COMPILE_CACHE=1 turns it off, as for node.
const home = process.env.XDG_CACHE_HOME || path.join(process.env.HOME || '/tmp', '.cache');
if (!process.env.NODE_DISABLE_COMPILE_CACHE) {
  const compileCache = madeDirectory(process.env.NODE_COMPILE_CACHE || path.join(home, 'lading', 'compile-cache'));
  if (compileCache) enableCompileCache(compileCache);
}

/**
 * The directory, made one level at a time: Node's recursive mkdir (and so enableCompileCache) never returns
 * on a file system that refuses a new directory with ENOENT (/proc). Undefined when it cannot be made.
 */
function madeDirectory(dir) {
  const missing = [];
  for (let at = path.resolve(dir); !fs.existsSync(at); at = path.dirname(at)) {
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  try {
    for (const level of missing) fs.mkdirSync(level);
    return dir;
  } catch {
    return undefined;
  }
}

const url = pathToFileURL(process.execPath).href;
registerHooks({
  load: (href, context, next) => (href === url ? { format: 'module', source: getAsset('lading.mjs', 'utf8'), shortCircuit: true } : next(href, context)),
});
// Unhandled on purpose: a failure to load is reported and exits 1 exactly as `node lading.mjs` would.
import(url);
