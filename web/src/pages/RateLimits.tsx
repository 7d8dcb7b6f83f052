import { useState } from 'react';
import { issuesByPath } from '../api';
import type { RateLimit } from '../errands';
import { useAction, useLoad } from '../hooks';
import { useSession } from '../session';
import { Alert, Confirm, Empty, FieldError, PageHeader, Spinner, Time } from '../components/ui';

/** "3 per 10 s", "100 per 1 min", "5,000 per 1 h". */
function period(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** Rate limits (CONTRACT §15): at most `limit` attempt starts of the tasks with a
 * `rateLimitKey` in any `periodSeconds`, shared by every node; admins set and delete them. */
export function RateLimits() {
  const { client, can } = useSession();
  const list = useLoad(() => client.rateLimits.list.query({}), [client]);
  const [editing, setEditing] = useState<RateLimit | 'new' | null>(null);
  const [deleting, setDeleting] = useState<RateLimit | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const row = useAction();
  async function remove(limit: RateLimit) {
    setDeleting(null);
    if (await row.run(() => client.rateLimits.delete.mutate({ key: limit.key }))) {
      setDone(`Deleted the limit of ${limit.key}: its tasks are unlimited from now on.`);
      list.reload();
    }
  }
  const admin = can('admin');
  return (
    <>
      <PageHeader title="Rate limits" sub="At most so many attempt starts of the tasks with a rateLimitKey in any period, on every node together.">
        {admin && editing === null ? <button type="button" className="primary" onClick={() => { setDone(null); setEditing('new'); }}>New rate limit</button> : null}
      </PageHeader>
      {editing !== null ? (
        <LimitForm key={editing === 'new' ? '' : editing.key} limit={editing === 'new' ? undefined : editing}
          onClose={(msg) => { setEditing(null); if (msg) { setDone(msg); list.reload(); } }} />
      ) : null}
      {done ? <Alert kind="success">{done}</Alert> : null}
      {list.error ? <Alert>{list.error}</Alert> : null}
      {row.error ? <Alert>{row.error}</Alert> : null}
      {!list.data && !list.error ? <div className="center"><Spinner /></div> : null}
      {list.data && list.data.length === 0 ? <Empty>No rate limits: every rateLimitKey is unlimited.</Empty> : null}
      {list.data && list.data.length ? (
        <div className="table-wrap">
          <table className="table responsive">
            <thead><tr><th>Key</th><th>Limit</th><th>Queued</th><th>Updated</th>{admin ? <th><span className="sr-only">Actions</span></th> : null}</tr></thead>
            <tbody>
              {list.data.map((r) => (
                <tr key={r.key} data-rate-limit={r.key}>
                  <td><code>{r.key}</code></td>
                  <td data-label="Limit">{r.limit.toLocaleString()} per {period(r.periodSeconds)}</td>
                  <td data-label="Queued">{r.queued.toLocaleString()}</td>
                  <td data-label="Updated"><Time at={r.updatedAt} /></td>
                  {admin ? (
                    <td className="row-actions">
                      <button type="button" onClick={() => { setDone(null); setEditing(r); }} aria-label={`Change ${r.key}`}>Change</button>
                      <button type="button" className="danger" disabled={row.busy} onClick={() => setDeleting(r)} aria-label={`Delete ${r.key}`}>Delete</button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {deleting ? (
        <Confirm title={`Delete the limit of ${deleting.key}?`} danger onCancel={() => setDeleting(null)} onConfirm={() => void remove(deleting)}>
          <p>Tasks with <code>{deleting.key}</code> start without a limit from now on
            {deleting.queued ? <>, {deleting.queued.toLocaleString()} queued among them</> : null}.</p>
        </Confirm>
      ) : null}
    </>
  );
}

function LimitForm(props: { limit?: RateLimit; onClose: (message: string | null) => void }) {
  const { client } = useSession();
  const [key, setKey] = useState(props.limit?.key ?? '');
  const [limit, setLimit] = useState(String(props.limit?.limit ?? ''));
  const [seconds, setSeconds] = useState(String(props.limit?.periodSeconds ?? '60'));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const action = useAction();
  const title = props.limit ? `Change ${props.limit.key}` : 'New rate limit';
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setErrors({});
    const answer = await action.run(async () => {
      try {
        return await client.rateLimits.set.mutate({ key: key.trim(), limit: Number(limit), periodSeconds: Number(seconds) });
      } catch (err) { setErrors(issuesByPath(err)); throw err; }
    });
    if (answer) props.onClose(`${answer.key}: at most ${answer.limit.toLocaleString()} starts per ${period(answer.periodSeconds)}.`);
  }
  return (
    <form className="card form" onSubmit={submit} noValidate aria-label={title}>
      <h2>{title}</h2>
      <p className="hint">Counts every attempt start, retries included, in a sliding window. A task over the limit waits queued, holding no slot.</p>
      <div className="form-grid">
        <div className="field"><label>Key
          <input value={key} onChange={(e) => setKey(e.target.value)} placeholder="crm:acme" readOnly={!!props.limit} autoComplete="off" /></label>
          <FieldError error={errors.key} />
        </div>
        <div className="field"><label>Limit (starts)
          <input type="number" inputMode="numeric" min={1} max={100000} value={limit} onChange={(e) => setLimit(e.target.value)} /></label>
          <FieldError error={errors.limit} />
        </div>
        <div className="field"><label>Period (seconds)
          <input type="number" inputMode="numeric" min={1} max={86400} value={seconds} onChange={(e) => setSeconds(e.target.value)} /></label>
          <FieldError error={errors.periodSeconds} />
        </div>
      </div>
      {action.error ? <Alert>{action.error}</Alert> : null}
      <div className="button-row">
        <button type="submit" className="primary" disabled={action.busy}>{props.limit ? 'Save limit' : 'Create limit'}</button>
        <button type="button" onClick={() => props.onClose(null)}>Close</button>
      </div>
    </form>
  );
}
