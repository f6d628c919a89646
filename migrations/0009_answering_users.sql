CREATE TABLE `media_uploads` (
	`channel_id` text NOT NULL,
	`type` text NOT NULL,
	`sha256` text NOT NULL,
	`media_id` text NOT NULL,
	`bytes` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`channel_id`) REFERENCES `channels`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `media_uploads_uq` ON `media_uploads` (`channel_id`,`type`,`sha256`);--> statement-breakpoint
CREATE INDEX `media_uploads_expires_idx` ON `media_uploads` (`expires_at`);--> statement-breakpoint
ALTER TABLE `messages` ADD `type` text DEFAULT 'template' NOT NULL;--> statement-breakpoint
ALTER TABLE `messages` ADD `fallback` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `sent_as` text;--> statement-breakpoint
CREATE INDEX `messages_openid_idx` ON `messages` (`channel_id`,`openid`,`seq`);--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `reply` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `late_reply` text DEFAULT 'send' NOT NULL;