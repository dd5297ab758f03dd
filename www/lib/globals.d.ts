// What the pages' classic scripts put on `window`, for `// @ts-check` (see www/jsconfig.json).
// They are typed loosely: the pages use a small part of each library.

interface Window {
  /** json-editor (/node_modules/@json-editor/json-editor/dist/jsoneditor.js), on the editor page. */
  JSONEditor: any;
  /** Chart.js (/node_modules/chart.js/dist/chart.umd.min.js), on the dashboard. */
  Chart: any;
}
