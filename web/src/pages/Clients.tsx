import { useState } from 'react';
import { Link } from 'wouter';
import { issuesByPath } from '../api';
import type { Client } from '../errands';
import { useAction, useLoad } from '../hooks';
import { useSession } from '../session';
import { Alert, Confirm, Empty, Id, PageHeader, Spinner, Time } from '../components/ui';

/** Clients (CONTRACT §14): whom tasks are done for; archive stops new tasks for one. */
export function Clients() {
  const { client, can } = useSession();
  const [archived, setArchived] = useState(false);
  const list = useLoad(() => client.clients.list.query({ archived, limit: 200 }), [client, archived]);
  const [creating, setCreating] = useState(false);
  const [asking, setAsking] = useState<Client | null>(null);
  const row = useAction();
  async function archive(c: Client) {
    setAsking(null);
    if (await row.run(() => client.clients.archive.mutate({ id: c.id }))) list.reload();
  }
  return (
    <>
      <PageHeader title="Clients" sub="Whom tasks are done for; each task and connection may belong to one.">
        {can('create') && !creating ? <button type="button" className="primary" onClick={() => setCreating(true)}>New client</button> : null}
      </PageHeader>
      {creating ? <NewClient onClose={(made) => { setCreating(false); if (made) list.reload(); }} /> : null}
      <label className="check filter-check"><input type="checkbox" checked={archived} onChange={(e) => setArchived(e.target.checked)} /> Archived</label>
      {list.error ? <Alert>{list.error}</Alert> : null}
      {row.error ? <Alert>{row.error}</Alert> : null}
      {!list.data && !list.error ? <div className="center"><Spinner /></div> : null}
      {list.data && list.data.items.length === 0 ? <Empty>No clients{archived ? ' archived' : ' yet'}.</Empty> : null}
      {list.data && list.data.items.length ? (
        <div className="table-wrap">
          <table className="table responsive">
            <thead><tr><th>Name</th><th>Slug</th><th>HighLevel location</th><th>Created</th><th><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.data.items.map((c) => (
                <tr key={c.id} data-client-id={c.id}>
                  <td><Link href={`/tasks?client=${c.id}`}>{c.name}</Link><div className="muted small"><Id id={c.id} /></div></td>
                  <td data-label="Slug"><code>{c.slug}</code></td>
                  <td data-label="HighLevel location">{c.ghlLocationId ?? <span className="muted">none</span>}</td>
                  <td data-label="Created"><Time at={c.createdAt} /></td>
                  <td className="row-actions">
                    {can('create') && !c.archivedAt ? <button type="button" className="danger" disabled={row.busy} onClick={() => setAsking(c)}>Archive</button> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {asking ? (
        <Confirm title={`Archive ${asking.name}?`} danger onCancel={() => setAsking(null)} onConfirm={() => void archive(asking)}>
          <p>No new tasks can be created for {asking.name} from now on; its tasks and history stay.</p>
        </Confirm>
      ) : null}
    </>
  );
}

function NewClient(props: { onClose: (made: boolean) => void }) {
  const { client } = useSession();
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  const [location, setLocation] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const action = useAction();
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setErrors({});
    const made = await action.run(async () => {
      try {
        return await client.clients.create.mutate({ name, slug: slug.trim() || null, ghlLocationId: location.trim() || null });
      } catch (err) { setErrors(issuesByPath(err)); throw err; }
    });
    if (made) props.onClose(true);
  }
  return (
    <form className="card form" onSubmit={submit} noValidate aria-label="New client">
      <h2>New client</h2>
      <div className="form-grid">
        <div className="field"><label>Name<input value={name} onChange={(e) => setName(e.target.value)} /></label>{errors.name ? <div className="field-error">{errors.name}</div> : null}</div>
        <div className="field"><label>Slug (optional)<input value={slug} onChange={(e) => setSlug(e.target.value)} placeholder="from the name" /></label>{errors.slug ? <div className="field-error">{errors.slug}</div> : null}</div>
        <div className="field"><label>HighLevel location id (optional)<input value={location} onChange={(e) => setLocation(e.target.value)} /></label></div>
      </div>
      {action.error ? <Alert>{action.error}</Alert> : null}
      <div className="button-row">
        <button type="submit" className="primary" disabled={action.busy}>Create client</button>
        <button type="button" onClick={() => props.onClose(false)}>Close</button>
      </div>
    </form>
  );
}
