/** @module The webhook retry schedule (SPEC §6), shared by the delivery worker and the manual retry. */

/** After the first POST fails: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±10 % jitter), then failed. */
export const RETRY_SCHEDULE_MS = [5_000, 5 * 60_000, 30 * 60_000, 2 * 3600_000, 5 * 3600_000, 10 * 3600_000, 10 * 3600_000]
