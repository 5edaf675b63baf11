-- Event time as businesses really send documents (issue 11).
--
-- documents.is_late now means "too late": the document arrived more than
-- stream.allowed_lateness_ms (of its business's watermark) after its minute window
-- closed; it is in no aggregate, only in too_late_events. A document that arrived
-- after the close but within allowed lateness has late_update = 1: it IS counted in
-- every aggregate of its windows, which were re-emitted as late updates.
-- Hence, over the raw documents of a window (FINAL):
--   document_count  = countIf(NOT is_late)
--   late_events     = countIf(late_update)
--   too_late_events = countIf(is_late)
-- windows.status tells a reader what a row is: 'current' (the window is open and
-- may change), 'final' (closed by its watermark, as computed at the close) or
-- 'late_update' (closed, re-emitted after late or too-late documents arrived).
ALTER TABLE documents ADD COLUMN IF NOT EXISTS late_update UInt8 DEFAULT 0
    COMMENT '1 when the document arrived after its minute window closed but within allowed lateness (counted)' AFTER is_late;

ALTER TABLE documents COMMENT COLUMN is_late '1 when the document arrived beyond allowed lateness (too late: in no aggregate)';

ALTER TABLE windows ADD COLUMN IF NOT EXISTS too_late_events UInt64 DEFAULT 0
    COMMENT 'documents of this window that arrived beyond allowed lateness (in no other aggregate)' AFTER late_events;

ALTER TABLE windows ADD COLUMN IF NOT EXISTS status LowCardinality(String) DEFAULT if(is_final = 1, 'final', 'current')
    COMMENT 'current | final | late_update (closed, re-emitted after late documents)' AFTER is_final;

ALTER TABLE windows COMMENT COLUMN late_events 'documents that arrived after the window closed, within allowed lateness (counted in every aggregate)';
