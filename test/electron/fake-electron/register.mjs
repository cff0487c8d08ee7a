// node --import ./register.mjs: maps the 'electron' module to electron.mjs beside this file, so the
// built main bundle (dist/electron/main.js) runs under plain Node where Electron cannot.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
