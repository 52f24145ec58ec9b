/**
 * Announcements of job status changes (on Redis: the job store's pub/sub channel, one subscription per
 * process). A running chunk listens instead of polling the job record, so cancelling a job reaches its
 * running chunks at once. Announcements can be lost while a connection reconnects: listeners still
 * re-check now and then.
 */
export interface JobEvents {
  /** Calls `onChange` after each announced status change of job `id`, until the returned function is called. */
  onStatusChange(id: string, onChange: () => void): () => void;
}
