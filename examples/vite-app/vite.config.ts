import { defineConfig } from "vite";

// Nothing Glance-specific: the package's wasm and weights are found through `import.meta.url`.
export default defineConfig({
  // Relative URLs, so the bundle runs from any folder the test serves it from.
  base: "./",
  build: { target: "es2022" },
});
