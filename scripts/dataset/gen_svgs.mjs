// Writes DiceBear avatars as JSON lines {"seed": "<style>-<i>", "svg": "..."} to stdout.
// Usage: node gen_svgs.mjs --modules DIR [--style open-peeps] --start 0 --count N
//   DIR: a node_modules folder holding @dicebear/core@9.4.3 and @dicebear/<style>@9.4.3
//   (see build_open_peeps.sh). The avatar is fully determined by the seed string and the
//   pinned package versions, so the output is reproducible.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  if (i < 0) {
    if (dflt === undefined) { console.error('missing --' + name); process.exit(2); }
    return dflt;
  }
  return process.argv[i + 1];
}

const modules = path.resolve(arg('modules'));
const style = arg('style', 'open-peeps');
const start = parseInt(arg('start', '0'), 10);
const count = parseInt(arg('count'), 10);

const core = await import(pathToFileURL(path.join(modules, '@dicebear/core/lib/index.js')).href);
const styleMod = await import(pathToFileURL(path.join(modules, '@dicebear', style, 'lib/index.js')).href);

const out = [];
for (let i = start; i < start + count; i++) {
  const seed = `${style}-${i}`;
  const svg = core.createAvatar(styleMod, { seed }).toString();
  out.push(JSON.stringify({ seed, svg }));
  if (out.length >= 256) { process.stdout.write(out.join('\n') + '\n'); out.length = 0; }
}
if (out.length) process.stdout.write(out.join('\n') + '\n');
