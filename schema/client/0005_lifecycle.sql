-- SPDX-License-Identifier: MIT
-- 0005_lifecycle.sql - a person's record closed by a coordinator: why and when (server
-- authoritative fields, common/catalogue.c). Forward-only.

ALTER TABLE person ADD COLUMN closed_reason TEXT;
ALTER TABLE person ADD COLUMN closed_on TEXT;
