/** Query parameters of the management API, validated with messages that say what is allowed. */
import { RegistryError } from '../../registry/errors.ts';
import { singleQuery, type Ctx } from '../context.ts';

/** A whole number within [min, max], or `fallback` when absent. */
export function intQuery(ctx: Ctx, key: string, { min, max, fallback }: { min: number; max: number; fallback: number }): number {
  const value = singleQuery(ctx, key);
  if (value === undefined || value === '') return fallback;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    throw new RegistryError('BAD_REQUEST', { message: `"${key}" must be a whole number from ${min} to ${max}, not "${value.slice(0, 50)}"`, detail: { [key]: value.slice(0, 50) } });
  }
  return n;
}

/** One of `allowed`, or `fallback` when absent. */
export function enumQuery<T extends string>(ctx: Ctx, key: string, allowed: readonly T[], fallback: T): T {
  const value = singleQuery(ctx, key);
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new RegistryError('BAD_REQUEST', { message: `"${key}" must be one of ${allowed.join(', ')}, not "${value.slice(0, 50)}"`, detail: { [key]: value.slice(0, 50) } });
  }
  return value as T;
}

/** A free-text parameter of at most `max` characters. */
export function textQuery(ctx: Ctx, key: string, max: number): string | undefined {
  const value = singleQuery(ctx, key);
  if (value !== undefined && value.length > max) {
    throw new RegistryError('BAD_REQUEST', { message: `"${key}" may be at most ${max} characters` });
  }
  return value || undefined;
}
