ALTER TABLE `inbound_messages` ADD `claimed` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `feed_cursor` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Endpoints that existed before the feed had their callback events written as rows already: start them at the newest inbound row.
UPDATE `webhook_endpoints` SET `feed_cursor` = (SELECT coalesce(max(`id`), 0) FROM `inbound_messages`);
