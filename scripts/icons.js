// Renders every icon the app needs from the two SVGs in build/ (npm run icons; the results are
// committed, so packaging needs neither library): build/icon.png (1024), icon.icns (macOS),
// icon.ico (Windows), icons/NxN.png (Linux), and the tray images in build/tray/: tray.png for
// Windows and Linux (the full-colour icon reads on light and dark panels) and trayTemplate.png for
// the macOS menu bar (black + alpha; macOS tints template images to match the bar).
// Usage: node scripts/icons.js [output folder, default build/]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import png2icons from 'png2icons';

const build = new URL('../build/', import.meta.url);
const out = process.argv[2] ? pathToFileURL(`${process.argv[2].replace(/\/$/, '')}/`) : build;
const icon = readFileSync(new URL('icon.svg', build), 'utf8');
const glyph = readFileSync(new URL('tray.svg', build), 'utf8');

function render(svg, size) {
  return new Resvg(svg, { fitTo: { mode: 'width', value: size }, background: 'rgba(0,0,0,0)' }).render().asPng();
}

function write(name, data) {
  const url = new URL(name, out);
  mkdirSync(new URL('.', url), { recursive: true });
  writeFileSync(url, data);
  console.log(`${name} (${data.length} bytes)`);
}

const master = render(icon, 1024);
write('icon.png', master);
// Bicubic resampling from the 1024 px master; ICO gets PNG-compressed entries up to 256 px.
write('icon.icns', png2icons.createICNS(master, png2icons.BICUBIC, 0));
write('icon.ico', png2icons.createICO(master, png2icons.BICUBIC, 0, false, true));
for (const size of [16, 32, 48, 64, 128, 256, 512]) write(`icons/${size}x${size}.png`, render(icon, size));
write('tray/tray.png', render(icon, 16));
write('tray/tray@2x.png', render(icon, 32));
write('tray/trayTemplate.png', render(glyph, 16));
write('tray/trayTemplate@2x.png', render(glyph, 32));
