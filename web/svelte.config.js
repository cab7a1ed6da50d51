// Svelte options for vite-plugin-svelte and svelte-check. Components are TypeScript
// (`<script lang="ts">`), which Svelte 5 compiles without a preprocessor; their styles are
// emitted as CSS files (see vite.config.ts), never injected at run time.
export default {};
