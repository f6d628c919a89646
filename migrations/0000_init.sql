CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`key_hash` text NOT NULL,
	`prefix` text NOT NULL,
	`scopes` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	`last_used_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_hash_uq` ON `api_keys` (`key_hash`);--> statement-breakpoint
CREATE TABLE `channels` (
	`id` text PRIMARY KEY NOT NULL,
	`app_id` text NOT NULL,
	`app_secret` text NOT NULL,
	`token` text NOT NULL,
	`aes_key` text,
	`replies` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `inbound_messages` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`channel_id` text NOT NULL,
	`dedup_key` text NOT NULL,
	`msg_type` text NOT NULL,
	`event` text,
	`from_user` text NOT NULL,
	`create_time` integer NOT NULL,
	`body` text NOT NULL,
	`reply` text NOT NULL,
	`handled_by` text NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `inbound_channel_dedup_uq` ON `inbound_messages` (`channel_id`,`dedup_key`);--> statement-breakpoint
CREATE INDEX `inbound_received_at_idx` ON `inbound_messages` (`received_at`);