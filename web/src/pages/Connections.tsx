import { useState } from 'react';
import { issuesByPath } from '../api';
import type { Connection, ConnectionKind } from '../errands';
import { useAction, useLoad } from '../hooks';
import { useSession } from '../session';
import { Alert, Confirm, Empty, Id, PageHeader, Spinner, Time } from '../components/ui';

const KINDS: ConnectionKind[] = ['bearer', 'api_key', 'basic', 'headers', 'ghl'];
const FIELDS: Record<ConnectionKind, string[]> = {
  bearer: ['token'], api_key: ['key', 'header'], basic: ['username', 'password'], ghl: ['token', 'locationId'], headers: [],
};
const OPTIONAL = new Set(['header', 'locationId']);

/** Named credentials (CONTRACT §14): the values are never shown, only replaced ("Rotate"). */
export function Connections() {
  const { client, can } = useSession();
  const list = useLoad(() => client.connections.list.query({}), [client]);
  const [creating, setCreating] = useState(false);
  const [rotating, setRotating] = useState<Connection | null>(null);
  const [deleting, setDeleting] = useState<Connection | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const row = useAction();
  async function remove(c: Connection) {
    setDeleting(null);
    if (await row.run(() => client.connections.delete.mutate({ id: c.id }))) { setDone(`Deleted ${c.name}.`); list.reload(); }
  }
  const admin = can('admin');
  return (
    <>
      <PageHeader title="Connections" sub="Credentials that tasks use by name; stored sealed, never shown again.">
        {admin && !creating ? <button type="button" className="primary" onClick={() => setCreating(true)}>New connection</button> : null}
      </PageHeader>
      {creating ? <ValuesForm title="New connection" onClose={(msg) => { setCreating(false); if (msg) { setDone(msg); list.reload(); } }} /> : null}
      {rotating ? <ValuesForm title={`Rotate ${rotating.name}`} rotate={rotating} onClose={(msg) => { setRotating(null); if (msg) { setDone(msg); list.reload(); } }} /> : null}
      {done ? <Alert kind="success">{done}</Alert> : null}
      {list.error ? <Alert>{list.error}</Alert> : null}
      {row.error ? <Alert>{row.error}</Alert> : null}
      {!list.data && !list.error ? <div className="center"><Spinner /></div> : null}
      {list.data && list.data.length === 0 ? <Empty>No connections yet.</Empty> : null}
      {list.data && list.data.length ? (
        <div className="table-wrap">
          <table className="table responsive">
            <thead><tr><th>Name</th><th>Kind</th><th>Values</th><th>Version</th><th>Last used</th><th><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.data.map((c) => (
                <tr key={c.id} data-connection-id={c.id}>
                  <td><code>{c.name}</code>{c.description ? <div className="muted small">{c.description}</div> : null}<div className="muted small"><Id id={c.id} /></div></td>
                  <td data-label="Kind">{c.kind}</td>
                  <td data-label="Values">{Object.keys(c.values).map((k) => <div key={k}><code>{k}</code> <span className="muted">hidden</span></div>)}</td>
                  <td data-label="Version" className="num">{c.version}</td>
                  <td data-label="Last used"><Time at={c.lastUsedAt} /></td>
                  <td className="row-actions">
                    {admin ? <>
                      <button type="button" onClick={() => setRotating(c)}>Rotate</button>
                      <button type="button" className="danger" disabled={row.busy} onClick={() => setDeleting(c)}>Delete</button>
                    </> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {deleting ? (
        <Confirm title={`Delete ${deleting.name}?`} danger onCancel={() => setDeleting(null)} onConfirm={() => void remove(deleting)}>
          <p>Tasks and schedules that use <code>{deleting.name}</code> could no longer run; the server refuses while any does.</p>
        </Confirm>
      ) : null}
    </>
  );
}

function ValuesForm(props: { title: string; rotate?: Connection; onClose: (message: string | null) => void }) {
  const { client } = useSession();
  const [name, setName] = useState('');
  const [kind, setKind] = useState<ConnectionKind>(props.rotate?.kind ?? 'bearer');
  const [values, setValues] = useState<Record<string, string>>({});
  const [headers, setHeaders] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const action = useAction();
  function collect(): Record<string, string> {
    if (kind !== 'headers') return Object.fromEntries(Object.entries(values).filter(([k, v]) => v !== '' && FIELDS[kind].includes(k)));
    return Object.fromEntries(headers.split('\n').map((l) => l.split(/:(.*)/s).map((x) => x.trim())).filter((p) => p[0]).map((p) => [p[0], p[1] ?? '']));
  }
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setErrors({});
    const rotate = props.rotate;
    const answer = await action.run(async () => {
      try {
        return rotate
          ? await client.connections.update.mutate({ id: rotate.id, patch: { values: collect() } })
          : await client.connections.create.mutate({ name, kind, values: collect() });
      } catch (err) { setErrors(issuesByPath(err)); throw err; }
    });
    if (answer) props.onClose(rotate ? `${answer.name} rotated: version ${answer.version}.` : `${answer.name} created.`);
  }
  return (
    <form className="card form" onSubmit={submit} noValidate aria-label={props.title}>
      <h2>{props.title}</h2>
      <p className="hint">The values are sealed on the server and never shown again{props.rotate ? '; these replace them all' : ''}.</p>
      <div className="form-grid">
        {props.rotate ? null : <>
          <div className="field"><label>Name<input value={name} onChange={(e) => setName(e.target.value)} placeholder="crm-token" /></label>{errors.name ? <div className="field-error">{errors.name}</div> : null}</div>
          <div className="field"><label>Kind<select value={kind} onChange={(e) => setKind(e.target.value as ConnectionKind)}>{KINDS.map((k) => <option key={k}>{k}</option>)}</select></label></div>
        </>}
        {FIELDS[kind].map((f) => (
          <div key={f} className="field"><label>{f}{OPTIONAL.has(f) ? ' (optional)' : ''}
            <input type={f === 'header' || f === 'username' || f === 'locationId' ? 'text' : 'password'} autoComplete="off"
              value={values[f] ?? ''} onChange={(e) => setValues((v) => ({ ...v, [f]: e.target.value }))} /></label>
            {errors[`values.${f}`] ? <div className="field-error">{errors[`values.${f}`]}</div> : null}
          </div>
        ))}
        {kind === 'headers' ? <div className="field"><label>Headers, one per line (Name: value)
          <textarea rows={3} value={headers} onChange={(e) => setHeaders(e.target.value)} /></label></div> : null}
      </div>
      {action.error ? <Alert>{action.error}</Alert> : null}
      <div className="button-row">
        <button type="submit" className="primary" disabled={action.busy}>{props.rotate ? 'Save new values' : 'Create connection'}</button>
        <button type="button" onClick={() => props.onClose(null)}>Close</button>
      </div>
    </form>
  );
}
