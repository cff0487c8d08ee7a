/**
 * A refused form, field by field: the server names the fields at fault (detail.fields, read into
 * ApiError.fields) and its message is shown under the first of them; a refusal that names no field is
 * shown above the form's buttons.
 */
import { ApiError } from '../api.ts';

export interface FormErrors {
  /** The request fields at fault ("name", "permissions.1.repository"); empty: the form as a whole. */
  fields: string[];
  message: string;
}

export function formErrors(err: unknown): FormErrors {
  const message = (err as Error).message;
  return { fields: err instanceof ApiError ? err.fields : [], message: message.charAt(0).toUpperCase() + message.slice(1) };
}

/** Whether `field` (or, with `prefix`, any field under it) is at fault. */
export function isInvalid(errors: FormErrors | null, field: string, prefix = false): boolean {
  return errors?.fields.some((f) => f === field || (prefix && f.startsWith(`${field}.`))) ?? false;
}

/** The message, under the first field at fault when that is `field`. */
export function FieldError({ errors, field, id }: { errors: FormErrors | null; field: string; id: string }) {
  if (errors?.fields[0] !== field) return null;
  return (
    <span className="error-text" id={id} role="alert">
      {errors.message}
    </span>
  );
}

/** The message of a refusal that names no field the form shows. */
export function FormError({ errors, shown }: { errors: FormErrors | null; shown: (field: string) => boolean }) {
  if (!errors || (errors.fields.length > 0 && shown(errors.fields[0]!))) return null;
  return (
    <p className="callout bad wide" role="alert">
      {errors.message}
    </p>
  );
}
