/**
 * Whether `error` is BullMQ's own failure of a job that stalled more times than the worker's
 * `maxStalledCount` allows. Its stalled-jobs Lua script stores the reason on the job, and the worker that
 * next takes the job fails it with an `UnrecoverableError` carrying that text: the same class our
 * processors throw once they have recorded a permanent failure, so the message is the only mark. The unit
 * test pins it to the installed BullMQ's script, so an upgrade that rewords it fails there instead of
 * leaving such jobs unrecorded.
 */
export function isStalledOut(error: Error): boolean {
  return /stalled more than/i.test(error.message);
}
