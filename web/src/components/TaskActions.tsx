import { useCallback, useState } from 'react';
import type { Task } from '../errands';
import { useAction } from '../hooks';
import { useFreshest, useSession } from '../session';
import { TaskEdit } from './TaskEdit';
import { Alert } from './ui';

const CANCELLABLE = new Set(['pending', 'awaiting_review', 'scheduled', 'queued', 'in_progress']);
const EDITABLE = new Set(['pending', 'awaiting_review', 'scheduled']);

/** The buttons the role allows for this task's status; a refusal shows the server's message. */
export function TaskActions(props: { task: Task; onDone: (task: Task) => void }) {
  const { client, can } = useSession();
  const { task } = props;
  const action = useAction();
  const freshest = useFreshest();
  const [notes, setNotes] = useState('');
  const [reason, setReason] = useState('');
  const [completion, setCompletion] = useState('');
  const [editing, setEditing] = useState(false);
  // An approval covers the saved task: with unsaved edits open, Approve waits for Save (or
  // Discard) instead of approving the old config and dropping the edit.
  const [unsaved, setUnsaved] = useState(false);
  const onDirty = useCallback((dirty: boolean) => setUnsaved(dirty), []);
  const act = async (fn: () => Promise<Task>) => {
    const done = await action.run(fn);
    if (done) { props.onDone(freshest(done)); setNotes(''); setReason(''); setCompletion(''); }
  };
  const review = task.status === 'awaiting_review' && can('review');
  const execute = (task.status === 'pending' || task.status === 'scheduled') && can('execute');
  const cancel = CANCELLABLE.has(task.status) && can('cancel');
  const retry = task.status === 'failed' && can('retry');
  const complete = task.status === 'pending' && can('execute');
  // tasks.update: an operator while pending/awaiting_review/scheduled, a reviewer while awaiting_review
  const edit = (EDITABLE.has(task.status) && can('create')) || (task.status === 'awaiting_review' && can('review'));
  if (!review && !execute && !cancel && !retry && !complete && !edit) return null;
  return (
    <div className="card actions" role="group" aria-label="Actions">
      {edit && editing ? (
        <TaskEdit task={task} onClose={() => setEditing(false)} onDirty={onDirty}
          save={(patch) => client.tasks.update.mutate({ id: task.id, patch })}
          onSaved={(saved) => { setEditing(false); props.onDone(freshest(saved)); }} />
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
        </div>
      ) : null}
      {execute || retry || (edit && !editing && !review) ? (
        <div className="button-row">
          {execute ? <button type="button" className="primary" disabled={action.busy}
            onClick={() => act(() => client.tasks.execute.mutate({ id: task.id }))}>Execute</button> : null}
          {retry ? <button type="button" className="primary" disabled={action.busy}
            onClick={() => act(() => client.tasks.retry.mutate({ id: task.id }))}>Retry</button> : null}
          {edit && !editing && !review ? <button type="button" disabled={action.busy} onClick={() => setEditing(true)}>Edit</button> : null}
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
