import { useState } from 'react';
import { Link } from 'wouter';
import { errorMessage, issuesByPath } from '../api';
import type { MessageStatus, OutboundMessage, WebhookCreated } from '../errands';
import { useAction, useLoad } from '../hooks';
import { useSession } from '../session';
import { Field } from '../components/TaskForm';
import { Alert, Copy, Empty, Id, PageHeader, StatusBadge, Time } from '../components/ui';

export function Webhooks() {
  const { client, can } = useSession();
  const hooks = useLoad(() => can('webhooks') ? client.webhooks.list.query() : Promise.resolve(null), [client]);
  const remove = useAction();
  return (
    <>
      <PageHeader title="Webhooks & messages" sub="Where notifications, reminders and reports are delivered." />
      {can('webhooks') ? <>
        <NewWebhook onCreated={hooks.reload} />
        {hooks.error ? <Alert>{hooks.error}</Alert> : null}
        {remove.error ? <Alert>{remove.error}</Alert> : null}
        <section className="card">
          <h2>Webhooks</h2>
          {hooks.data && hooks.data.length === 0 ? <Empty>No webhooks yet.</Empty> : null}
          {hooks.data && hooks.data.length ? (
            <table className="table responsive">
              <thead><tr><th>Name</th><th>URL</th><th>State</th><th>Created</th><th>Last delivery</th><th><span className="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {hooks.data.map((w) => (
                  <tr key={w.id}>
                    <td>{w.name}<div className="muted small"><Id id={w.id} /></div></td>
                    <td className="break"><code>{w.url}</code></td>
                    <td><StatusBadge status={w.active ? 'active' : 'inactive'} /></td>
                    <td><Time at={w.createdAt} /></td>
                    <td><Time at={w.lastDeliveryAt} /></td>
                    <td className="row-actions"><button type="button" className="danger" disabled={remove.busy}
                      onClick={() => { if (window.confirm(`Delete the webhook “${w.name}”?`)) void remove.run(() => client.webhooks.delete.mutate({ id: w.id })).then(hooks.reload); }}>Delete</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </section>
      </> : <p className="muted">Your role may see messages but not manage webhooks.</p>}
      <Messages webhooks={Object.fromEntries((hooks.data ?? []).map((w) => [w.id, w.name]))} />
    </>
  );
}

function NewWebhook(props: { onCreated: () => void }) {
  const { client } = useSession();
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const [created, setCreated] = useState<WebhookCreated | null>(null);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setErrors({});
    setMessage(null);
    try {
      setCreated(await client.webhooks.create.mutate({ name, url }));
      setName('');
      setUrl('');
      props.onCreated();
    } catch (err) {
      const issues = issuesByPath(err);
      setErrors(issues);
      if (!Object.keys(issues).length) setMessage(errorMessage(err));
    }
  }
  return (
    <section className="card">
      <h2>New webhook</h2>
      <form className="inline-form" onSubmit={submit} noValidate>
        <Field label="Name" path="name" errors={errors}><input value={name} onChange={(e) => setName(e.target.value)} /></Field>
        <Field label="URL" path="url" errors={errors}><input value={url} placeholder="https://…" onChange={(e) => setUrl(e.target.value)} /></Field>
        <button type="submit" className="primary">Create webhook</button>
      </form>
      {message ? <Alert>{message}</Alert> : null}
      {created ? (
        <Alert kind="success">
          Webhook “{created.name}” created. Its signing secret is shown <strong>this once</strong> — copy it now:
          <code className="secret" aria-label="Signing secret">{created.secret}</code>
          <Copy text={created.secret} what="signing secret" />
        </Alert>
      ) : null}
    </section>
  );
}

function Messages(props: { webhooks: Record<string, string> }) {
  const { client } = useSession();
  const [status, setStatus] = useState<MessageStatus | ''>('');
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  const page = useLoad(() => client.messages.list.query({ status: status || null, limit: 50, cursor }), [client, status, cursor]);
  const rows: OutboundMessage[] = page.data?.items ?? [];
  return (
    <section className="card">
      <div className="section-head">
        <h2>Messages</h2>
        <label>Status{' '}
          <select value={status} onChange={(e) => { setStatus(e.target.value as MessageStatus | ''); setCursors([null]); }}>
            <option value="">any</option>
            {['scheduled', 'queued', 'delivered', 'failed'].map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
        <button type="button" onClick={page.reload}>Refresh</button>
      </div>
      {page.error ? <Alert>{page.error}</Alert> : null}
      {page.data && rows.length === 0 ? <Empty>No messages.</Empty> : null}
      {rows.length ? (
        <table className="table responsive">
          <thead><tr><th>Created</th><th>Kind</th><th>Webhook</th><th>Task</th><th>Status</th><th>Tries</th><th>Response</th><th>Last error</th><th>Send at</th><th>Delivered</th></tr></thead>
          <tbody>
            {rows.map((m) => (
              <tr key={m.id}>
                <td><Time at={m.createdAt} /></td>
                <td>{m.kind}</td>
                <td>{props.webhooks[m.webhookId] ?? <code>{m.webhookId}</code>}</td>
                <td>{m.taskId ? <Link href={`/tasks/${m.taskId}`}>task</Link> : '—'}</td>
                <td><StatusBadge status={m.status} /></td>
                <td className="num">{m.attempts}</td>
                <td className="num">{m.responseStatus ?? '—'}</td>
                <td className="error-line">{m.lastError ?? ''}</td>
                <td><Time at={m.sendAt} /></td>
                <td><Time at={m.deliveredAt} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <div className="pager">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>Newer</button>
        <span className="muted">Page {cursors.length}</span>
        <button type="button" disabled={!page.data?.nextCursor} onClick={() => { const n = page.data?.nextCursor; if (n) setCursors((c) => [...c, n]); }}>Older</button>
      </div>
    </section>
  );
}
