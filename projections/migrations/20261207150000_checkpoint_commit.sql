-- The commit id of the record just before each checkpoint: a worker carries on
-- from a checkpoint only if the log still holds that commit there (a topic
-- created again under the same name does not). Null for checkpoints saved
-- before this column: carried on from without proof, once.
alter table projection_checkpoints add column if not exists last_commit uuid;
