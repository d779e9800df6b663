/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API serves dist/ at "/" and the app calls it same-origin (/api/...). In development
// `npm run dev` proxies /api to a local `leadcast up` (LEADCAST_API, default :8001).
const api = process.env.LEADCAST_API ?? "http://127.0.0.1:8001";

export default defineConfig({
  base: "/",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
  server: { proxy: { "/api": { target: api, changeOrigin: true } } },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./test/setup.ts"],
    include: ["test/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
