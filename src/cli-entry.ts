/**
 * The process entry of the installed command: importing this module runs the CLI with the process's
 * arguments, whatever name or symlink started it (bin/kvsync.js imports it).
 */
import { runAndExit } from './cli.ts';

void runAndExit(process.argv.slice(2));
