// Glance's error classes. Every error the engine throws is one of these, with a stable `name`
// (set as a string so minifiers cannot change it) so callers can branch on `error.name` or use
// `instanceof`. RulesValidationError carries `issues`: [{ path, message }]; ConfigError `path`.
// The same names, in the same order, as Rust's ErrorName (src/error.rs; a test compares them);
// the entry module (src/web/loader.js) exports these classes.
export class GlanceError extends Error {}
export class InvalidFrameError extends GlanceError {}
export class DecodeError extends GlanceError {}
export class ModelLoadError extends GlanceError {}
export class BackendUnavailableError extends GlanceError {}
export class ConfigError extends GlanceError {}
export class RulesValidationError extends GlanceError {}
export class AdPlayError extends GlanceError {}
export class StateError extends GlanceError {}
export class ExportError extends GlanceError {}
export class EngineBusyError extends GlanceError {}
export class EngineClosedError extends GlanceError {}
export class EngineCrashedError extends GlanceError {}
export class DisclosureHiddenError extends GlanceError {}

/** @type {Record<string, typeof GlanceError>} */
const CLASSES = {
  GlanceError, InvalidFrameError, DecodeError, ModelLoadError, BackendUnavailableError, ConfigError,
  RulesValidationError, AdPlayError, StateError, ExportError, EngineBusyError, EngineClosedError,
  EngineCrashedError, DisclosureHiddenError,
};
for (const [name, C] of Object.entries(CLASSES)) {
  Object.defineProperty(C.prototype, "name", { value: name, writable: true, configurable: true });
}

/**
 * An error of the class `name` names (a GlanceError for a name it does not know), with the
 * fields its class carries and those the entry module adds to an EngineCrashedError.
 * @param {string} name
 * @param {string} message
 * @param {unknown} [issues] RulesValidationError's
 * @param {string} [path] ConfigError's
 * @returns {GlanceError & { issues?: unknown, path?: string, restarting?: boolean, restarted?: boolean, restoredFromMs?: number }}
 */
export function glanceError(name, message, issues, path) {
  /** @type {GlanceError & { issues?: unknown, path?: string }} */
  const error = new (CLASSES[name] ?? GlanceError)(message);
  if (issues !== undefined) error.issues = issues;
  // A ConfigError always names the option at fault; "" is the options object as a whole.
  if (path !== undefined || error instanceof ConfigError) error.path = path ?? "";
  return error;
}
