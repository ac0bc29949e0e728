import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * Builds the Telegram Mini App into `<repo>/dist/webapp`, served by the API process at `/app/`.
 * Run from the repo root: `npm run build` (= `vite build --config webapp/vite.config.ts`).
 */
export default defineConfig({
  // Vite injects the config file's own folder here, so the build works from any cwd.
  root: import.meta.dirname,
  base: '/app/',
  plugins: [react()],
  build: {
    outDir: '../dist/webapp',
    // outDir is outside root, so Vite only empties it when told to.
    emptyOutDir: true,
    // Never inline assets as data: URIs: the server's CSP allows only same-origin resources.
    assetsInlineLimit: 0,
  },
  server: {
    // `npx vite --config webapp/vite.config.ts` next to `npm run dev`: the API answers /api.
    proxy: { '/api': 'http://127.0.0.1:3000' },
  },
});
