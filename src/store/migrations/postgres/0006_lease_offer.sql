-- Explicit hand-over of the driver lease: the holder offers it (to one operator, or to '*'
-- for anyone) and keeps driving until another cockpit takes it, so a release is never
-- without a driver in between. NULL: not offered.
ALTER TABLE leases ADD COLUMN offered_to TEXT;
