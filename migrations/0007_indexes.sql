DROP INDEX `webhook_deliveries_due_idx`;--> statement-breakpoint
CREATE INDEX `webhook_deliveries_endpoint_due_idx` ON `webhook_deliveries` (`endpoint_id`,`next_attempt_at`,`seq`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `inbound_channel_from_idx` ON `inbound_messages` (`channel_id`,`from_user`,`id`);