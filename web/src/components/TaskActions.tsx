import { useCallback, useState } from 'react';
import { useLocation } from 'wouter';
import type { Task } from '../errands';
import { useAction } from '../hooks';
import { useFreshest, useSession } from '../session';
import { ApprovalLink } from './ApprovalLink';
import { TaskEdit } from './TaskEdit';
import { Alert } from './ui';

const CANCELLABLE = new Set(['pending', 'awaiting_review', 'scheduled', 'queued', 'in_progress']);
const EDITABLE = new Set(['pending', 'awaiting_review', 'scheduled']);
// tasks.reassign: a task not running and not terminal
const REASSIGNABLE = new Set(['pending', 'awaiting_review', 'scheduled', 'queued']);

/** The buttons the role allows for this task's status; a refusal shows the server's message. */
export function TaskActions(props: { task: Task; onDone: (task: Task) => void;
  /** The task's own page: also Duplicate, Edit and retry, and Reassign (not in the review queue). */
  full?: boolean }) {
  const { client, can } = useSession();
  const { task } = props;
  const action = useAction();
  const freshest = useFreshest();
  const [notes, setNotes] = useState('');
  const [reason, setReason] = useState('');
  const [completion, setCompletion] = useState('');
  const [editing, setEditing] = useState(false);
  const [retrying, setRetrying] = useState(false); // the "Edit and retry" form is open
  const [assignee, setAssignee] = useState('');
  const [, navigate] = useLocation();
  // An approval covers the saved task: with unsaved edits open, Approve waits for Save (or
  // Discard) instead of approving the old config and dropping the edit.
  const [unsaved, setUnsaved] = useState(false);
  const onDirty = useCallback((dirty: boolean) => setUnsaved(dirty), []);
  const act = async (fn: () => Promise<Task>) => {
    const done = await action.run(fn);
    if (done) { props.onDone(freshest(done)); setNotes(''); setReason(''); setCompletion(''); setAssignee(''); }
  };
  async function duplicate() {
    const made = await action.run(() => client.tasks.duplicate.mutate({ id: task.id }));
    if (made) navigate(`/tasks/${made.id}`);
  }
  const review = task.status === 'awaiting_review' && can('review');
  // A group follows its subtasks: it is cancelled or retried as one, nothing else (§17).
  const group = task.taskType === 'group';
  const execute = (task.status === 'pending' || task.status === 'scheduled') && can('execute') && !group;
  const cancel = CANCELLABLE.has(task.status) && can('cancel');
  const retry = task.status === 'failed' && can('retry');
  const editRetry = retry && !!props.full && !group;
  const complete = task.status === 'pending' && can('execute');
  // tasks.update: an operator while pending/awaiting_review/scheduled, a reviewer while awaiting_review
  const edit = !group && ((EDITABLE.has(task.status) && can('create')) || (task.status === 'awaiting_review' && can('review')));
  const copy = !!props.full && can('create') && !group; // tasks.duplicate, any status
  const reassign = !!props.full && REASSIGNABLE.has(task.status) && can('execute') && !group;
  if (!review && !execute && !cancel && !retry && !complete && !edit && !copy && !reassign) return null;
  return (
    <div className="card actions" role="group" aria-label="Actions">
      {edit && editing ? (
        <TaskEdit task={task} onClose={() => setEditing(false)} onDirty={onDirty}
          save={(patch) => client.tasks.update.mutate({ id: task.id, patch })}
          onSaved={(saved) => { setEditing(false); props.onDone(freshest(saved)); }} />
      ) : null}
      {editRetry && retrying ? (
        <TaskEdit task={task} heading="Edit, then retry" submitLabel="Save and retry" allowEmpty
          onClose={() => setRetrying(false)}
          save={(patch) => client.tasks.retry.mutate({ id: task.id, patch: Object.keys(patch).length ? patch : null })}
          onSaved={(saved) => { setRetrying(false); props.onDone(freshest(saved)); }} />
      ) : null}
      {review ? (
        <div className="review-box">
          <label htmlFor={`notes-${task.id}`}>Review notes</label>
          <textarea id={`notes-${task.id}`} rows={2} value={notes} onChange={(e) => setNotes(e.target.value)}
            placeholder="optional: why you approve or reject" />
          <div className="button-row">
            <button type="button" className="primary" disabled={action.busy || (editing && unsaved)}
              aria-describedby={editing && unsaved ? `unsaved-${task.id}` : undefined}
              onClick={() => act(() => client.tasks.approve.mutate({ id: task.id, notes: notes || null }))}>Approve</button>
            <button type="button" className="danger" disabled={action.busy}
              onClick={() => act(() => client.tasks.reject.mutate({ id: task.id, notes: notes || null }))}>Reject</button>
            {edit && !editing ? <button type="button" disabled={action.busy} onClick={() => setEditing(true)}>Edit</button> : null}
          </div>
          {editing && unsaved ? (
            <p className="hint" role="status" id={`unsaved-${task.id}`}>
              Your edit is not saved: save it (or discard it) before approving. An approval covers the saved task only.
            </p>
          ) : null}
          {props.full ? <ApprovalLink task={task} /> : null}
        </div>
      ) : null}
      {execute || retry || copy || (edit && !editing && !review) ? (
        <div className="button-row">
          {execute ? <button type="button" className="primary" disabled={action.busy}
            onClick={() => act(() => client.tasks.execute.mutate({ id: task.id }))}>Execute</button> : null}
          {retry && !retrying ? <button type="button" className="primary" disabled={action.busy}
            onClick={() => act(() => client.tasks.retry.mutate({ id: task.id }))}>Retry</button> : null}
          {editRetry && !retrying ? <button type="button" disabled={action.busy} onClick={() => setRetrying(true)}>Edit and retry</button> : null}
          {edit && !editing && !review ? <button type="button" disabled={action.busy} onClick={() => setEditing(true)}>Edit</button> : null}
          {copy ? <button type="button" disabled={action.busy} onClick={() => void duplicate()}
            title="A new task with the same fields">Duplicate</button> : null}
        </div>
      ) : null}
      {reassign ? (
        <div className="action-line reassign">
          <span className="action-label">{task.assignedToBot ? 'To a person?' : 'Someone else?'}</span>
          <input aria-label="Assignee" placeholder="a person's name" value={assignee} maxLength={200}
            onChange={(e) => setAssignee(e.target.value)} />
          <button type="button" disabled={action.busy || !assignee.trim()}
            onClick={() => act(() => client.tasks.reassign.mutate({ id: task.id, assignedToBot: false, assignee: assignee.trim() }))}>Reassign</button>
          {!task.assignedToBot ? <button type="button" disabled={action.busy}
            onClick={() => act(() => client.tasks.reassign.mutate({ id: task.id, assignedToBot: true }))}>Give to the bot</button> : null}
        </div>
      ) : null}
      {complete ? (
        <div className="action-line">
          <span className="action-label">Done by hand?</span>
          <input aria-label="Completion notes" placeholder="notes (optional)" value={completion}
            onChange={(e) => setCompletion(e.target.value)} />
          <button type="button" disabled={action.busy}
            onClick={() => act(() => client.tasks.complete.mutate({ id: task.id, notes: completion || null }))}>Complete</button>
        </div>
      ) : null}
      {cancel ? (
        <div className="action-line">
          <span className="action-label">Not needed?</span>
          <input aria-label="Cancel reason" placeholder="reason (optional)" value={reason}
            onChange={(e) => setReason(e.target.value)} />
          <button type="button" className="danger" disabled={action.busy}
            onClick={() => act(() => client.tasks.cancel.mutate({ id: task.id, reason: reason || null }))}>Cancel task</button>
        </div>
      ) : null}
      {action.error ? <Alert>{action.error}</Alert> : null}
    </div>
  );
}
