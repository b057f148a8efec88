/**
 * The interactive run in a real pseudo-terminal (util-linux `script`): the Ink
 * view draws, the summary stays on screen, and Ctrl-C (a real ^C typed into
 * the terminal) stops cleanly with the cursor restored and nothing left behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { requireTool } from '../support/tools.js';
import { LADING_BIN, specText } from '../support/lading.js';

let work: string;
let registry: TestRegistry;
let image: PushedImage;
let script: string;

before(async () => {
  script = requireTool('script', 'install it with `apt-get install bsdutils` (util-linux script)');
  work = await mkdtemp(join(tmpdir(), 'lading-tty-'));
  registry = await startRegistry();
  image = await pushImage(registry, { repository: 'tty/app', tag: '1', layers: [{ randomBytes: 16 << 20, seed: 'tty-layer' }] });
});

after(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface TtyRun {
  code: number | null;
  screen: string;
  raw: string;
}

/** Runs lading under a pseudo-terminal of 100x30; `typeAfter` types keys once the output matches. */
function runInTty(args: string[], env: NodeJS.ProcessEnv, typeAfter?: { when: RegExp; keys: string }): Promise<TtyRun> {
  const command = [LADING_BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    // A terminal session as a person has it: no CI variable (Ink and lading both read it), colours on.
    const { CI: _ci, NO_COLOR: _noColor, FORCE_COLOR: _force, ...rest } = process.env;
    const child = spawn(script, ['-qefc', `stty cols 100 rows 30; exec ${command}`, '/dev/null'], {
      env: { ...rest, TERM: 'xterm-256color', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let raw = '';
    let typed = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      raw += s;
      if (typeAfter && !typed && typeAfter.when.test(stripVTControlCharacters(raw))) {
        typed = true;
        child.stdin.write(typeAfter.keys);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, raw, screen: stripVTControlCharacters(raw) });
    });
  });
}

describe('interactive create in a pseudo-terminal', () => {
  test('draws the live task list and leaves the summary on screen', async () => {
    const spec = join(work, 'ok.yaml');
    await writeFile(spec, specText([image.ref], ['linux/amd64']));
    const run = await runInTty(['create', spec, '-o', join(work, 'ok.tar')], { LADING_CACHE_DIR: join(work, 'cache-ok') });
    assert.equal(run.code, 0, run.screen);
    assert.match(run.screen, /✔ Resolve 1 image/);
    assert.match(run.screen, /Bundle created/);
    assert.match(run.screen, new RegExp(`Bundle\\s+${join(work, 'ok.tar').replaceAll('/', '\\/')}`));
    assert.match(run.screen, /sha256\s+[a-f0-9]{64}/);
    // Ink drew it: cursor hidden while live, shown again at the end; no listr2 log-update frames.
    assert.ok(run.raw.includes('\u001b[?25l'), 'cursor hidden while drawing');
    assert.ok(run.raw.lastIndexOf('\u001b[?25h') > run.raw.lastIndexOf('\u001b[?25l'), 'cursor restored');
  });

  test('Ctrl-C stops cleanly: exit 130, cursor restored, no bundle or temp file', async (t) => {
    const slow = await startFaultProxy(registry.url, [{ match: /blobs/, fault: { kind: 'slow', bytesPerSecond: 2 << 20 } }]);
    t.after(() => slow.stop());
    const dir = await mkdtemp(join(work, 'ctrlc-'));
    const spec = join(dir, 'lading.yaml');
    await writeFile(spec, specText([`${slow.host}/tty/app:1`], ['linux/amd64']));
    const run = await runInTty(['create', spec, '-o', join(dir, 'out.tar')], { LADING_CACHE_DIR: join(work, 'cache-ctrlc') }, {
      when: /MiB \/ 16(\.0)? MiB/,
      keys: '\u0003',
    });
    assert.equal(run.code, 130, run.screen);
    assert.match(run.screen, /Interrupted/);
    assert.ok(run.raw.lastIndexOf('\u001b[?25h') > run.raw.lastIndexOf('\u001b[?25l'), 'cursor restored');
    assert.deepEqual(await readdir(dir), ['lading.yaml']);
  });
});
