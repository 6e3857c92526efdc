/**
 * Errors caused by the user's input (files, flags, configs). The CLI prints their message as one line
 * and exits non-zero; anything else is a bug and keeps its stack trace.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** What each filesystem error code means for the user, and what to do about it. */
const FS_ERRORS: Readonly<Record<string, string>> = {
  ENOSPC: 'the disk is full; free some space and rerun (finished files were left as they were)',
  EDQUOT: 'the disk quota is used up; free some space and rerun (finished files were left as they were)',
  EACCES: 'permission denied; choose a folder you can write to (--out) or fix its permissions',
  EPERM: 'operation not permitted; choose a folder you can write to (--out)',
  EROFS: 'the file system is read-only; choose another --out',
  ENOTDIR: 'a part of the path is a file, not a folder; choose another path',
  EISDIR: 'it is a folder where a file was expected; choose another path',
  ENAMETOOLONG: 'the name is too long (at most 255 bytes per name and 4096 per path); choose a shorter path',
  EEXIST: 'it already exists as a file; choose another path',
  ENOENT: 'no such file or folder',
  EMFILE: 'too many open files; close other programs or raise the limit (ulimit -n) and rerun',
  EIO: 'an input/output error of the disk',
};

/**
 * The one line for a filesystem error (an errno exception with a path: the disk is full, a folder is
 * read-only, --out is a file ...), naming the path and the fix; undefined for any other error.
 */
export function fsErrorLine(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (typeof e.code !== 'string' || typeof e.syscall !== 'string' || e.path === undefined) return undefined;
  const what = FS_ERRORS[e.code] ?? `${e.code} (${e.message})`;
  return `cannot ${e.syscall} ${e.path}${e.dest === undefined ? '' : ` -> ${e.dest}`}: ${what}`;
}
