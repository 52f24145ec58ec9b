/**
 * An error raised while loading, mapping or running a challenger, with the challenger's name in front of
 * its message, so the job's error says which model failed. The error keeps its class and code (a mapping
 * error stays a mapping error); one already named is left as it is.
 */
export function forChallenger(error: unknown, name: string): unknown {
  if (!(error instanceof Error)) return error;
  const prefix = `challenger "${name}": `;
  if (!error.message.startsWith(prefix)) error.message = `${prefix}${error.message}`;
  return error;
}
