import { useEffect, useState } from 'react';
import { errorMessage, issuesByPath } from '../api';
import type { Schedule } from '../errands';
import { useAction, useLoad } from '../hooks';
import { TYPE_LABELS } from '../labels';
import { useSession } from '../session';
import { DraftError, emptyDraft, Field, TaskFormFields, toTaskCreate } from '../components/TaskForm';
import type { TaskDraft } from '../components/TaskForm';
import { Alert, Empty, PageHeader, StatusBadge, Time } from '../components/ui';

export function Schedules() {
  const { client, can } = useSession();
  const list = useLoad(() => client.schedules.list.query(), [client]);
  const webhooks = useLoad(() => can('webhooks') ? client.webhooks.list.query() : Promise.resolve([]), [client]);
  const row = useAction();
  const [creating, setCreating] = useState(false);
  async function act(fn: () => Promise<Schedule>) {
    if (await row.run(fn)) list.reload();
  }
  return (
    <>
      <PageHeader title="Schedules" sub="Each cron slot creates one task from the template.">
        {can('schedules') && !creating ? <button type="button" className="primary" onClick={() => setCreating(true)}>New schedule</button> : null}
      </PageHeader>
      {creating ? <NewSchedule webhooks={webhooks.data ?? []} onClose={(made) => { setCreating(false); if (made) list.reload(); }} /> : null}
      {list.error ? <Alert>{list.error}</Alert> : null}
      {row.error ? <Alert>{row.error}</Alert> : null}
      {list.data && list.data.length === 0 ? <Empty>No schedules yet.</Empty> : null}
      {list.data && list.data.length ? (
        <div className="table-wrap">
          <table className="table responsive">
            <thead><tr><th>Name</th><th>Cron</th><th>Time zone</th><th>Creates</th><th>State</th><th>Next run</th><th>Last run</th><th><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.data.map((s) => (
                <tr key={s.id} data-schedule-id={s.id}>
                  <td>{s.name}</td>
                  <td data-label="Cron"><code>{s.cron}</code></td>
                  <td data-label="Time zone">{s.timezone}</td>
                  <td data-label="Creates">{s.task.title} <span className="muted">({TYPE_LABELS[s.task.taskType]})</span></td>
                  <td data-label="State"><StatusBadge status={s.enabled ? 'active' : 'paused'} /></td>
                  <td data-label="Next run"><Time at={s.nextRunAt} zone={s.timezone} absolute /></td>
                  <td data-label="Last run"><Time at={s.lastRunAt} zone={s.timezone} absolute /></td>
                  <td className="row-actions">
                    {can('schedules') ? <>
                      {s.enabled
                        ? <button type="button" disabled={row.busy} onClick={() => act(() => client.schedules.pause.mutate({ id: s.id }))}>Pause</button>
                        : <button type="button" disabled={row.busy} onClick={() => act(() => client.schedules.resume.mutate({ id: s.id }))}>Resume</button>}
                      <button type="button" className="danger" disabled={row.busy}
                        onClick={() => { if (window.confirm(`Delete the schedule “${s.name}”?`)) void act(() => client.schedules.delete.mutate({ id: s.id })); }}>Delete</button>
                    </> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
}

function NewSchedule(props: { webhooks: { id: string; name: string }[]; onClose: (made: boolean) => void }) {
  const { client } = useSession();
  const [name, setName] = useState('');
  const [cron, setCron] = useState('0 9 * * 1-5');
  const [timezone, setTimezone] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
  const [policy, setPolicy] = useState<'run_once' | 'skip'>('run_once');
  const [draft, setDraft] = useState<TaskDraft>(() => emptyDraft());
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setErrors({});
    setMessage(null);
    try {
      await client.schedules.create.mutate({ name, cron, timezone, missedRunPolicy: policy, task: toTaskCreate(draft) });
      props.onClose(true);
    } catch (err) {
      if (err instanceof DraftError) { setErrors({ [`task.${err.path}`]: err.message }); return; }
      const issues = issuesByPath(err);
      setErrors(issues);
      const list = Object.entries(issues).map(([path, text]) => `${path}: ${text}`).join('; ');
      setMessage(list ? `The server refused the schedule — ${list}` : errorMessage(err));
    }
  }
  return (
    <form className="card form" onSubmit={submit} noValidate aria-label="New schedule">
      <h2>New schedule</h2>
      <div className="form-grid">
        <Field label="Name" path="name" errors={errors}><input value={name} onChange={(e) => setName(e.target.value)} /></Field>
        <Field label="Cron" path="cron" errors={errors} hint="minute hour day month weekday (or seconds first)">
          <input className="mono" value={cron} onChange={(e) => setCron(e.target.value)} />
        </Field>
        <Field label="Time zone" path="timezone" errors={errors} hint="IANA name, e.g. Europe/Paris">
          <input value={timezone} onChange={(e) => setTimezone(e.target.value)} />
        </Field>
        <Field label="Missed slots" path="missedRunPolicy" errors={errors}>
          <select value={policy} onChange={(e) => setPolicy(e.target.value as 'run_once' | 'skip')}>
            <option value="run_once">run the latest once</option><option value="skip">skip</option>
          </select>
        </Field>
      </div>
      <CronPreview cron={cron} timezone={timezone} />
      <h3>Task template</h3>
      <TaskFormFields draft={draft} onChange={setDraft} errors={errors} webhooks={props.webhooks} prefix="task." />
      {message ? <Alert>{message}</Alert> : null}
      <div className="button-row">
        <button type="submit" className="primary">Create schedule</button>
        <button type="button" onClick={() => props.onClose(false)}>Close</button>
      </div>
    </form>
  );
}

/** In `timezone` when the browser knows it, else in the browser's own zone (said so). */
function inZone(iso: string, timezone: string): string {
  const options: Intl.DateTimeFormatOptions = {
    weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    timeZoneName: 'short',
  };
  try {
    return new Date(iso).toLocaleString(undefined, { ...options, timeZone: timezone });
  } catch {
    return new Date(iso).toLocaleString(undefined, options);
  }
}

/** The next five fire times (schedules.preview), asked again 400 ms after the last keystroke. */
function CronPreview(props: { cron: string; timezone: string }) {
  const { client } = useSession();
  const [state, setState] = useState<{ times?: string[]; error?: string; for?: string }>({});
  const key = `${props.cron}\u0000${props.timezone}`;
  useEffect(() => {
    let alive = true;
    const cron = props.cron.trim();
    const timezone = props.timezone.trim() || 'UTC';
    if (!cron) { setState({ error: 'Type a cron expression to see when it fires.', for: key }); return; }
    const t = window.setTimeout(() => {
      client.schedules.preview.query({ cron, timezone, count: 5 }).then(
        (got) => { if (alive) setState({ times: got.times, for: key }); },
        (err: unknown) => { if (alive) setState({ error: errorMessage(err), for: key }); },
      );
    }, 400);
    return () => { alive = false; window.clearTimeout(t); };
  }, [client, props.cron, props.timezone, key]);
  const stale = state.for !== key;
  return (
    <section className={stale ? 'cron-preview stale' : 'cron-preview'} aria-label="Next runs" aria-busy={stale}>
      <h3>Next runs <span className="muted small">({props.timezone.trim() || 'UTC'})</span></h3>
      {state.error ? <div className="field-error" role="alert">{state.error}</div> : null}
      {state.times ? (
        <ol className="run-times">
          {state.times.map((t) => <li key={t}><time dateTime={t}>{inZone(t, props.timezone.trim() || 'UTC')}</time></li>)}
        </ol>
      ) : null}
      {!state.times && !state.error ? <span className="muted">…</span> : null}
    </section>
  );
}
