/**
 * What an image config says, for people (OCI image-spec config.md; Docker's image JSON has the same
 * fields under the same names). Pure: reads a parsed JSON value and never throws, since a config the
 * registry stored must still be viewable when it carries odd values: unknown shapes become null/empty.
 */
import type { HistoryView, ImageConfigView } from './api-types.ts';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function strings(value: unknown): string[] | null {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : null;
}

function stringMap(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Keys of a set-like object ({"8080/tcp": {}}), sorted. */
function keys(value: unknown): string[] {
  return isObject(value) ? Object.keys(value).sort() : [];
}

function history(value: unknown): HistoryView[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isObject).map((h) => ({
    created: text(h.created),
    createdBy: text(h.created_by),
    comment: text(h.comment),
    emptyLayer: h.empty_layer === true,
  }));
}

export function imageConfigView(config: unknown): ImageConfigView {
  const root = isObject(config) ? config : {};
  // The runtime settings live under "config" (OCI, Docker); very old Docker images used "container_config" only.
  const run = isObject(root.config) ? root.config : isObject(root.container_config) ? root.container_config : {};
  return {
    os: text(root.os),
    architecture: text(root.architecture),
    variant: text(root.variant),
    created: text(root.created),
    author: text(root.author),
    user: text(run.User),
    workingDir: text(run.WorkingDir),
    entrypoint: strings(run.Entrypoint),
    cmd: strings(run.Cmd),
    env: strings(run.Env) ?? [],
    labels: stringMap(run.Labels),
    exposedPorts: keys(run.ExposedPorts),
    volumes: keys(run.Volumes),
    stopSignal: text(run.StopSignal),
    history: history(root.history),
  };
}
