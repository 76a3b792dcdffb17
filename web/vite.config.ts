import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Builds the web UI from `web/` into `web/dist`, which the Drover API serves at `/`.
 * In `vite dev`, API calls are proxied to a Drover on DROVER_URL (default :8080).
 */
export default defineConfig({
  root,
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true },
  server: {
    proxy: { '/api': { target: process.env.DROVER_URL ?? 'http://127.0.0.1:8080', changeOrigin: true } },
  },
});
