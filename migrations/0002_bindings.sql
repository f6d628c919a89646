CREATE TABLE `bind_codes` (
	`code` text PRIMARY KEY NOT NULL,
	`channel_id` text NOT NULL,
	`subject` text NOT NULL,
	`label` text,
	`status` text NOT NULL,
	`qr_ticket` text NOT NULL,
	`qr_url` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`openid` text,
	`bound_at` integer,
	FOREIGN KEY (`channel_id`) REFERENCES `channels`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `bind_codes_expires_at_idx` ON `bind_codes` (`expires_at`);--> statement-breakpoint
CREATE TABLE `bindings` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`channel_id` text NOT NULL,
	`openid` text NOT NULL,
	`subject` text NOT NULL,
	`status` text NOT NULL,
	`code` text,
	`bound_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`channel_id`) REFERENCES `channels`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `bindings_id_uq` ON `bindings` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `bindings_channel_openid_uq` ON `bindings` (`channel_id`,`openid`);--> statement-breakpoint
CREATE INDEX `bindings_channel_subject_idx` ON `bindings` (`channel_id`,`subject`);