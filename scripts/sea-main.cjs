// The entry of the single executables (scripts/sea.mjs). Node 24's SEA main must be CommonJS, and
// lading.mjs cannot be: it (and yoga-layout, ink) use top-level await. So this loads the embedded
// asset lading.mjs as the ES module it is, under the executable's own URL: its createRequire(import.meta.url)
// then works, and nothing is read from disk.
'use strict';
const { registerHooks } = require('node:module');
const { getAsset } = require('node:sea');
const { pathToFileURL } = require('node:url');

const url = pathToFileURL(process.execPath).href;
registerHooks({
  load: (href, context, next) => (href === url ? { format: 'module', source: getAsset('lading.mjs', 'utf8'), shortCircuit: true } : next(href, context)),
});
// Unhandled on purpose: a failure to load is reported and exits 1 exactly as `node lading.mjs` would.
import(url);
