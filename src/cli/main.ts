/** The executable entry: runs the program on the real process streams and sets the exit code once. */
import { main } from './program.js';

// A reader that went away (`lading --help | head`) is not an error of lading's: stop writing, quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    stream.destroy();
  });
}

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }, process.env);
