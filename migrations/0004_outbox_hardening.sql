ALTER TABLE `channel_tokens` ADD `api_quotas` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `last_call_at` integer;--> statement-breakpoint
ALTER TABLE `messages` ADD `uncertain_since` integer;--> statement-breakpoint
CREATE INDEX `messages_queued_due_idx` ON `messages` (`channel_id`,`next_attempt_at`,`seq`) WHERE status = 'queued';