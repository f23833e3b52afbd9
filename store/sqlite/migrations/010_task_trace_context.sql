-- The W3C trace context (a traceparent header value) of the Start that
-- created the task, so whichever process runs its steps continues that
-- trace. NULL when the starter was not tracing: the column costs nothing
-- then.
ALTER TABLE tasker_tasks ADD COLUMN trace_context TEXT;
