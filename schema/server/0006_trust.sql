-- SPDX-License-Identifier: MIT
-- 0006_trust.sql - what the server itself observed, so that no decision rests on a device's word
-- (docs/internals/access.md "Windows that depend on time", merge.md "Bases the server never
-- issued"):
--  * devices.given_cursor: the highest pull cursor this server gave the device in a committed
--    reply; once it is past the end of an assignment or a consent deny, the device has been told;
--  * change_log.sent_base_hlc/sent_base_device: the base a device sent when the server did not
--    trust it (never issued for that field); base_hlc/base_device then hold 0 and '' (a write
--    that saw nothing), which is what the conflict rules read.

ALTER TABLE devices ADD COLUMN given_cursor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE change_log ADD COLUMN sent_base_hlc INTEGER;
ALTER TABLE change_log ADD COLUMN sent_base_device TEXT;
