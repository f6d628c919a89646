CREATE TABLE `channel_tokens` (
	`channel_id` text PRIMARY KEY NOT NULL,
	`access_token` text,
	`expires_at` integer,
	`refreshed_at` integer,
	`day` text NOT NULL,
	`refreshes_today` integer DEFAULT 0 NOT NULL,
	`force_refreshes_today` integer DEFAULT 0 NOT NULL,
	`last_force_at` integer,
	`quota_until` integer,
	`last_error` text,
	FOREIGN KEY (`channel_id`) REFERENCES `channels`(`id`) ON UPDATE no action ON DELETE cascade
);
