/** One webhook attempt as the deliver processor hands it to the sender (services/delivery/send-webhook.ts). */
export interface WebhookRequest {
  url: string;
  /** The delivery id, sent as `webhook-id` and signed. */
  id: string;
  /** The JSON body, exactly as signed. */
  body: string;
  /** The job's secret, then the one being rotated out, if any: one signature each. */
  secrets: readonly string[];
}
