/**
 * Retry delay for queue messages: exponential from the platform's attempt count (1 on first
 * delivery), so a database outage is ridden out without hammering it: 2 s, 4 s, 8 s, … capped.
 */
export const RETRY_BASE_DELAY_SECONDS = 2;
export const RETRY_MAX_DELAY_SECONDS = 300;

export function retryDelaySeconds(attempts: number): number {
  return Math.min(RETRY_MAX_DELAY_SECONDS, RETRY_BASE_DELAY_SECONDS * 2 ** Math.max(0, attempts - 1));
}
