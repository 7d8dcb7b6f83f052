// Triggers (CONTRACT §16): a URL that creates a task from a template on each verified POST.
// The signing secret is shown once, when the trigger is made and when it is rotated.
import { useState } from 'react';
import { Link } from 'wouter';
import { errorMessage, issuesByPath } from '../api';
import type { TaskCreate, Trigger, TriggerCreated, Verify } from '../errands';
import { useAction, useLoad } from '../hooks';
import { useSession } from '../session';
import { Field } from '../components/TaskForm';
import { Alert, Confirm, Copy, Empty, Id, PageHeader, Spinner, StatusBadge, Time } from '../components/ui';

const EXAMPLE_TEMPLATE = {
  title: 'New lead: {{event.name}}',
  taskType: 'api_call',
  executionConfig: {
    apiEndpoint: 'https://crm.example.com/leads', apiMethod: 'POST',
    body: { name: '{{event.name}}', email: '{{event.email}}' },
  },
  tags: ['lead'],
};

export function Triggers() {
  const { client, can } = useSession();
  const list = useLoad(() => client.triggers.list.query(), [client]);
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<{ made: TriggerCreated; rotated: boolean } | null>(null);
  const [asking, setAsking] = useState<{ kind: 'rotate' | 'delete'; trigger: Trigger } | null>(null);
  const [shown, setShown] = useState<string | null>(null); // the trigger whose deliveries are open
  const row = useAction();
  const manage = can('create');
  async function confirmed() {
    if (!asking) return;
    const { kind, trigger } = asking;
    setAsking(null);
    if (kind === 'rotate') {
      const made = await row.run(() => client.triggers.rotateSecret.mutate({ id: trigger.id }));
      if (made) setSecret({ made, rotated: true });
    } else if (await row.run(() => client.triggers.delete.mutate({ id: trigger.id }))) {
      if (shown === trigger.id) setShown(null);
    }
    list.reload();
  }
  async function toggle(trigger: Trigger) {
    if (await row.run(() => client.triggers.update.mutate({ id: trigger.id, patch: { enabled: !trigger.enabled } }))) list.reload();
  }
  const open = list.data?.find((t) => t.id === shown);
  return (
    <>
      <PageHeader title="Triggers" sub="A URL that creates a task from a template each time a signed call arrives.">
        {manage && !creating ? <button type="button" className="primary" onClick={() => setCreating(true)}>New trigger</button> : null}
      </PageHeader>
      {creating ? <NewTrigger onClose={(made) => {
        setCreating(false);
        if (made) { setSecret({ made, rotated: false }); list.reload(); }
      }} /> : null}
      {secret ? <SecretOnce made={secret.made} rotated={secret.rotated} onDone={() => setSecret(null)} /> : null}
      {list.error ? <Alert>{list.error}</Alert> : null}
      {row.error ? <Alert>{row.error}</Alert> : null}
      {!list.data && !list.error ? <div className="center"><Spinner /></div> : null}
      {list.data && list.data.length === 0 ? <Empty>No triggers yet.</Empty> : null}
      {list.data && list.data.length ? (
        <div className="table-wrap">
          <table className="table responsive triggers">
            <thead><tr><th>Name</th><th>URL</th><th>State</th><th>Last received</th><th><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.data.map((t) => (
                <tr key={t.id} data-trigger-id={t.id}>
                  <td>{t.name}<div className="muted small"><Id id={t.id} /></div></td>
                  <td data-label="URL" className="trigger-url"><code>{t.url}</code><Copy text={t.url} what={`URL of ${t.name}`} />
                    <div className="muted small">{t.verify === 'none' ? 'not verified' : 'Standard Webhooks signature'}</div></td>
                  <td data-label="State"><StatusBadge status={t.enabled ? 'enabled' : 'disabled'} /></td>
                  <td data-label="Last received"><Time at={t.lastReceivedAt} /></td>
                  <td className="row-actions">
                    <button type="button" aria-expanded={shown === t.id} onClick={() => setShown(shown === t.id ? null : t.id)}>
                      Deliveries<span className="sr-only"> of {t.name}</span>
                    </button>
                    {manage ? <>
                      <button type="button" disabled={row.busy} onClick={() => void toggle(t)}>
                        {t.enabled ? 'Disable' : 'Enable'}<span className="sr-only"> {t.name}</span>
                      </button>
                      <button type="button" disabled={row.busy} onClick={() => setAsking({ kind: 'rotate', trigger: t })}>
                        Rotate secret<span className="sr-only"> of {t.name}</span>
                      </button>
                      <button type="button" className="danger" disabled={row.busy} onClick={() => setAsking({ kind: 'delete', trigger: t })}>
                        Delete<span className="sr-only"> {t.name}</span>
                      </button>
                    </> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {open ? <Deliveries trigger={open} onClose={() => setShown(null)} /> : null}
      {asking ? (
        <Confirm title={asking.kind === 'rotate' ? `Rotate the secret of ${asking.trigger.name}?` : `Delete ${asking.trigger.name}?`}
          danger onCancel={() => setAsking(null)} onConfirm={() => void confirmed()}>
          {asking.kind === 'rotate'
            ? <p>A new signing secret is made and shown once; calls signed with the old one are refused from now on.</p>
            : <p>Its URL stops creating tasks at once (404). Tasks it created stay.</p>}
        </Confirm>
      ) : null}
    </>
  );
}

function SecretOnce(props: { made: TriggerCreated; rotated: boolean; onDone: () => void }) {
  const { made } = props;
  return (
    <section className="card secret-card" aria-label="Signing secret, shown once">
      <Alert kind="success">
        {props.rotated ? `The secret of “${made.name}” was rotated.` : `Trigger “${made.name}” created.`}{' '}
        Its signing secret is shown <strong>this once</strong> — copy it now:
        <code className="secret" aria-label="Signing secret">{made.secret}</code>
        <Copy text={made.secret} what="signing secret" />
      </Alert>
      <p className="hint">Callers POST JSON to <code className="break">{made.url}</code> <Copy text={made.url} what="URL" />,
        signed with this secret (Standard Webhooks headers <code>webhook-id</code>, <code>webhook-timestamp</code>, <code>webhook-signature</code>).</p>
      <button type="button" onClick={props.onDone}>I have copied it</button>
    </section>
  );
}

function NewTrigger(props: { onClose: (made: TriggerCreated | null) => void }) {
  const { client } = useSession();
  const [name, setName] = useState('');
  const [template, setTemplate] = useState(() => JSON.stringify(EXAMPLE_TEMPLATE, null, 2));
  const [verify, setVerify] = useState<Verify>('standard_webhooks');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setErrors({});
    setMessage(null);
    let parsed: unknown;
    try {
      parsed = JSON.parse(template);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error();
    } catch {
      setErrors({ template: 'is not a JSON object' });
      return;
    }
    setBusy(true);
    try {
      props.onClose(await client.triggers.create.mutate({ name, template: parsed as TaskCreate, verify }));
    } catch (err) {
      const issues = issuesByPath(err);
      // an issue inside the template shows under the template, with its path there
      const placed: Record<string, string> = {};
      for (const [path, text] of Object.entries(issues)) {
        const at = path.startsWith('template.') ? 'template' : path;
        const note = at === path ? text : `${path.slice('template.'.length)}: ${text}`;
        placed[at] = placed[at] ? `${placed[at]}; ${note}` : note;
      }
      setErrors(placed);
      if (!Object.keys(issues).length) setMessage(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="card form" onSubmit={submit} noValidate aria-label="New trigger">
      <h2>New trigger</h2>
      <div className="form-grid">
        <Field label="Name" path="name" errors={errors}><input value={name} onChange={(e) => setName(e.target.value)} /></Field>
        <Field label="Verify calls" path="verify" errors={errors}>
          <select value={verify} onChange={(e) => setVerify(e.target.value as Verify)}>
            <option value="standard_webhooks">Standard Webhooks signature</option>
            <option value="none">not at all (anyone with the URL)</option>
          </select>
        </Field>
      </div>
      <Field label="Task template (JSON)" path="template" errors={errors}
        hint="A task as tasks.create takes it. Any string may hold {{event.path}} (a dot path into the call's JSON body) or {{event}} (the whole body).">
        <textarea className="mono" rows={Math.max(8, Math.min(20, template.split('\n').length + 1))} value={template}
          spellCheck={false} onChange={(e) => setTemplate(e.target.value)} />
      </Field>
      {message ? <Alert>{message}</Alert> : null}
      <div className="button-row">
        <button type="submit" className="primary" disabled={busy}>Create trigger</button>
        <button type="button" onClick={() => props.onClose(null)}>Close</button>
      </div>
    </form>
  );
}

function Deliveries(props: { trigger: Trigger; onClose: () => void }) {
  const { client } = useSession();
  const { trigger } = props;
  const list = useLoad(() => client.triggers.deliveries.query({ id: trigger.id, limit: 50 }), [client, trigger.id, trigger.lastReceivedAt]);
  return (
    <section className="card" aria-labelledby="deliveries-title">
      <div className="section-head">
        <h2 id="deliveries-title">Deliveries of {trigger.name}</h2>
        <button type="button" onClick={list.reload}>Refresh</button>
        <button type="button" className="link" onClick={props.onClose}>Close</button>
      </div>
      <p className="hint">The last calls received, newest first.</p>
      {list.error ? <Alert>{list.error}</Alert> : null}
      {!list.data && !list.error ? <div className="center"><Spinner /></div> : null}
      {list.data && list.data.length === 0 ? <Empty>No calls received yet.</Empty> : null}
      {list.data && list.data.length ? (
        <table className="table responsive">
          <thead><tr><th>At</th><th>Status</th><th>Task</th><th>Error</th></tr></thead>
          <tbody>
            {list.data.map((d, n) => (
              <tr key={`${d.at}-${n}`}>
                <td data-label="At"><Time at={d.at} /></td>
                <td data-label="Status"><span className={d.status < 300 ? 'ok-mark' : 'fail-mark'}>{d.status}</span></td>
                <td data-label="Task">{d.taskId ? <Link href={`/tasks/${d.taskId}`}><code>{d.taskId}</code></Link> : <span className="muted">none</span>}</td>
                <td className="error-cell" {...(d.error ? { 'data-label': 'Error' } : {})}>{d.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
