// Fails fast, with the fix, when kvsync or an npm script runs on a Node older than the project supports.
// Plain JavaScript on purpose: it must give its message even on Node 20, which cannot strip types.
// Imported first by bin/kvsync.js; run as a script by `npm test`.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(
    `kvsync needs Node >= 22.19, found ${process.version} (${process.execPath}). ` +
      'In a kvsync checkout, run `npm ci` and `export PATH="$PWD/node_modules/.bin:$PATH"`: Node 24 comes from npm.',
  );
  process.exit(1);
}
