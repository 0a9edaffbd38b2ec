// Fails fast, with the fix, when npm scripts run on a Node older than the project supports.
// Plain JavaScript on purpose: it must give its message even on Node 20, which cannot strip types.
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(
    `kvsync needs Node >= 22 (found ${process.version} at ${process.execPath}). ` +
      'Run `npm ci` first: it installs Node 24 into node_modules/.bin, which npm scripts put first on PATH.',
  );
  process.exit(1);
}
