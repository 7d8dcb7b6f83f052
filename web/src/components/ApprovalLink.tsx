import { useState } from 'react';
import type { Task } from '../errands';
import { useAction } from '../hooks';
import { useSession } from '../session';
import { Alert, Copy, Time } from './ui';

const EXPIRIES: [number, string][] = [[3600, '1 hour'], [86_400, '1 day'], [604_800, '7 days']];

/** tasks.approvalLink (CONTRACT §16): a single-use link by which a named person approves or
 * rejects without a key — for someone outside the console (the client, a manager). */
export function ApprovalLink(props: { task: Task }) {
  const { client } = useSession();
  const action = useAction();
  const [reviewer, setReviewer] = useState('');
  const [expires, setExpires] = useState(86_400);
  const [made, setMade] = useState<{ url: string; expiresAt: string; reviewer: string } | null>(null);
  const id = props.task.id;
  async function create() {
    const name = reviewer.trim();
    const link = await action.run(() => client.tasks.approvalLink.mutate({
      id, reviewer: name, expiresInSeconds: expires,
    }));
    if (link) setMade({ ...link, reviewer: name });
  }
  return (
    <details className="approval-link">
      <summary>Send an approval link</summary>
      <p className="hint">A link that lets one named person approve or reject this task without a key.
        It works once, only while the task awaits review, and stops working if the task is edited.</p>
      <div className="action-line">
        <label htmlFor={`link-reviewer-${id}`}>Reviewer's name</label>
        <input id={`link-reviewer-${id}`} value={reviewer} maxLength={120} placeholder="recorded as the reviewer"
          onChange={(e) => setReviewer(e.target.value)} />
        <label htmlFor={`link-expiry-${id}`}>Valid for</label>
        <select id={`link-expiry-${id}`} value={expires} onChange={(e) => setExpires(Number(e.target.value))}>
          {EXPIRIES.map(([s, label]) => <option key={s} value={s}>{label}</option>)}
        </select>
        <button type="button" disabled={action.busy || !reviewer.trim()} onClick={() => void create()}>
          Create approval link</button>
      </div>
      {made ? (
        <div className="approval-link-made" role="status">
          <p>Link for <strong>{made.reviewer}</strong>, expires <Time at={made.expiresAt} />:</p>
          <p><code className="break">{made.url}</code> <Copy text={made.url} what="approval link" /></p>
        </div>
      ) : null}
      {action.error ? <Alert>{action.error}</Alert> : null}
    </details>
  );
}
