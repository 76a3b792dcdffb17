-- Progress from inside running jobs (issue 12): what the program last reported about
-- itself (fraction, counts, message, named values; domain/progress.ts JobProgress), read
-- from the end of its stdout at each poll and written only when it changed, so a job
-- costs one small update per poll at most, never one event per line.
alter table jobs add column progress jsonb;
