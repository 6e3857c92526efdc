/**
 * Errors caused by the user's input (files, flags, configs). The CLI prints their message as one line
 * and exits non-zero; anything else is a bug and keeps its stack trace.
 */
export class UserError extends Error {
  override name = 'UserError';
}
