// `vite build --ssr src/entry-server.ts`: an ESM server bundle (dist/server/entry-server.js) with a
// source map beside it; vue stays external, as in every Vite SSR setup.
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

export default defineConfig({
  plugins: [vue()],
  build: { sourcemap: true, minify: false, emptyOutDir: true },
  logLevel: 'warn',
});
