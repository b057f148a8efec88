// The demo registry by hand:
//   node --import tsx scripts/demo-registry.ts up [--tls] [--no-push] [--scale N]
//   node --import tsx scripts/demo-registry.ts status
//   node --import tsx scripts/demo-registry.ts down [--purge]
// It listens on 127.0.0.1:5055 ($LADING_DEMO_PORT); state in .state/demo-registry.

import { rmSync } from 'node:fs';
import { DEMO_STATE_DIR, describePushed, ensureDemoRegistry, pushDemoImages } from '../fixtures/demo/demo-registry.js';
import { connectRegistry, stopRegistryFromPidFile } from '../test/support/registry.js';

const USAGE = 'usage: demo-registry.ts up [--tls] [--no-push] [--scale N] | status | down [--purge]';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const flag = (name: string) => rest.includes(name);
  switch (command) {
    case 'up': {
      const scaleAt = rest.indexOf('--scale');
      const scale = scaleAt >= 0 ? Number(rest[scaleAt + 1]) : 1;
      const { registry, startedNow } = await ensureDemoRegistry({ tls: flag('--tls') });
      try {
        console.log(`${startedNow ? 'started' : 'already running'}: ${registry.url} (pid ${registry.pid}, state ${DEMO_STATE_DIR})`);
        if (registry.caFile) console.log(`CA: ${registry.caFile}`);
        if (!flag('--no-push')) console.log(describePushed(await pushDemoImages(registry, { scale })));
      } finally {
        await registry.dispatcher.close();
      }
      return 0;
    }
    case 'status': {
      const registry = await connectRegistry(DEMO_STATE_DIR);
      if (!registry) {
        console.log(`not running (state ${DEMO_STATE_DIR})`);
        return 3;
      }
      console.log(`running: ${registry.url} (pid ${registry.pid}, state ${DEMO_STATE_DIR})`);
      await registry.dispatcher.close();
      return 0;
    }
    case 'down': {
      const stopped = await stopRegistryFromPidFile(DEMO_STATE_DIR);
      console.log(stopped ? 'stopped' : 'was not running');
      if (flag('--purge')) {
        rmSync(DEMO_STATE_DIR, { recursive: true, force: true });
        console.log(`removed ${DEMO_STATE_DIR}`);
      }
      return 0;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`demo-registry: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
