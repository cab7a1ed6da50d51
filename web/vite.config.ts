// The built-in SPA. `web/build.sh` builds it into web/dist, which is committed and embedded in
// the portcullis crate (crates/portcullis/src/http/spa.rs), so the server needs no Node.
import { fileURLToPath } from "node:url";

import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

const sdk = fileURLToPath(new URL("../clients/js/src/index.ts", import.meta.url));

export default defineConfig({
  // The SDK is compiled from its source: a fresh clone needs no SDK build first.
  resolve: { alias: { "@portcullis/client": sdk } },
  // Component styles go to the CSS file (never injected at run time), so the page needs no
  // inline script or style under the server's CSP.
  plugins: [svelte({ emitCss: true })],
  // No public/ directory: every file but index.html carries a content hash.
  publicDir: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Under /portcullis/ so that a proxy in front (deploy/nginx/forward-auth.conf) can pass the
    // login page's files with one location next to its own app.
    assetsDir: "portcullis",
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
    // One stylesheet and one script: nothing is loaded later.
    cssCodeSplit: false,
    modulePreload: { polyfill: false },
  },
});
