/**
 * What an error from the file system means for the data directory, as one of the few things a user can
 * act on. Only the errno codes below are storage failures; anything else (ENOENT of a file that was
 * just removed, a parse error) is the caller's to interpret.
 */

export type StorageFailureKind =
  /** ENOSPC, EDQUOT: no space (or quota) left on the volume. */
  | 'full'
  /** EROFS: the file system is mounted read-only (or was remounted so after errors). */
  | 'read-only'
  /** EACCES, EPERM: this user may not write there. */
  | 'permission'
  /** EIO: the device failed to read or write. */
  | 'io';

const KINDS: Record<string, StorageFailureKind> = {
  ENOSPC: 'full',
  EDQUOT: 'full',
  EROFS: 'read-only',
  EACCES: 'permission',
  EPERM: 'permission',
  EIO: 'io',
};

export function storageFailureKind(err: unknown): StorageFailureKind | null {
  const code = (err as NodeJS.ErrnoException | null | undefined)?.code;
  return (code && KINDS[code]) || null;
}

/** The errno code of a system error, or null for any other error. */
export function errnoCode(err: unknown): string | null {
  const code = (err as NodeJS.ErrnoException | null | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : null;
}
