-- The predictive retry's history query (StepSuccessRate) reads the most
-- recent steps of one name: (name, created_at) finds them without a scan.
-- Neither column changes after insert, so the index costs one entry per
-- step and no update ever touches it.
CREATE INDEX tasker_steps_history ON tasker_steps (name, created_at);

-- The performance report (ReportData) selects tasks by creation time.
CREATE INDEX tasker_tasks_created ON tasker_tasks (created_at);
