-- The last commit the fold accepted for each account: the fold rule checks a
-- commit's previous_commit_id against it. Rows folded before this column
-- existed hold null, and their next commit is judged by the version alone
-- (`ledgerctl replay` fills every head).
alter table accounts add column if not exists head_commit_id uuid;
