import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The console is served by Errands at `/` (server/node/console.py); hashed files under /assets/.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: { outDir: 'dist', assetsDir: 'assets', sourcemap: false, emptyOutDir: true },
  server: { proxy: { '/trpc': 'http://127.0.0.1:8000', '/artifacts': 'http://127.0.0.1:8000' } },
});
