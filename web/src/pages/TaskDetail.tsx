import { useEffect, useState } from 'react';
import { Link } from 'wouter';
import type { Task, TaskExecution } from '../errands';
import { useDebounced, useLoad } from '../hooks';
import { latest, TYPE_LABELS } from '../labels';
import { useSession, useTaskEvents } from '../session';
import { Download, Screenshot } from '../components/Artifacts';
import { TaskActions } from '../components/TaskActions';
import { AuditTable } from '../components/AuditTable';
import { Alert, formatDuration, Json, PageHeader, Spinner, StalledBadge, StatusBadge, Time } from '../components/ui';

export function TaskDetail(props: { id: string }) {
  const { client } = useSession();
  const loaded = useLoad(() => client.tasks.get.query({ id: props.id }), [client, props.id]);
  const attempts = useLoad(() => client.tasks.executions.query({ taskId: props.id }), [client, props.id]);
  const [task, setTask] = useState<Task | undefined>(undefined);
  useEffect(() => { const got = loaded.data; if (got) setTask((t) => latest(t, got)); }, [loaded.data]);
  const audit = useLoad(() => client.audit.list.query({ targetId: props.id, limit: 50 }), [client, props.id]);
  const reloadAttempts = useDebounced(attempts.reload, 200);
  const reloadAudit = useDebounced(audit.reload, 500);
  useTaskEvents((event) => {
    if (event.task.id !== props.id) return;
    setTask((t) => latest(t, event.task));
    if (event.type === 'execution') reloadAttempts();
    reloadAudit();
  });
  if (loaded.error) return <><PageHeader title="Task" /><Alert>{loaded.error}</Alert></>;
  if (!task) return <div className="center"><Spinner /></div>;
  return (
    <>
      <PageHeader title={task.title} sub={<>
        <Link href="/tasks">Tasks</Link> / <code>{task.id}</code>
      </>}>
        <StatusBadge status={task.status} />
        <StalledBadge since={task.stalledSince} />
      </PageHeader>
      {task.statusReason ? <p className="status-reason">{task.statusReason}</p> : null}
      <TaskActions task={task} onDone={(done) => { setTask((t) => latest(t, done)); reloadAttempts(); reloadAudit(); }} />
      {task.lastError ? (
        <section className="card error-card" aria-label="Last error">
          <h2>Last error</h2>
          <pre className="error-text">{task.lastError}</pre>
        </section>
      ) : null}
      <div className="grid-2">
        <section className="card">
          <h2>Fields</h2>
          <TaskFields task={task} />
        </section>
        <section className="card">
          <h2>Execution config</h2>
          <p className="hint">Secrets read <code>********</code>, as the server masks them.</p>
          <Json value={task.executionConfig} label="Execution config" />
          {task.metadata ? <><h3>Metadata</h3><Json value={task.metadata} label="Metadata" /></> : null}
        </section>
      </div>
      <section className="card">
        <h2>Result</h2>
        {task.resultSummary ? <p className="summary">{task.resultSummary}</p> : null}
        {task.result === null ? <p className="muted">No result yet.</p> : <Json value={task.result} label="Result" />}
      </section>
      <section className="card">
        <h2>Attempts</h2>
        {attempts.error ? <Alert>{attempts.error}</Alert> : null}
        {attempts.data && attempts.data.length === 0 ? <p className="muted">No attempts yet.</p> : null}
        <ol className="timeline">
          {(attempts.data ?? []).map((attempt) => <Attempt key={attempt.id} attempt={attempt} />)}
        </ol>
      </section>
      <section className="card" aria-label="Audit trail">
        <h2>Audit trail</h2>
        <p className="hint">Who did what to this task, newest first. <Link href={`/audit?target=${task.id}`}>Open in the audit log</Link></p>
        {audit.error ? <Alert>{audit.error}</Alert> : null}
        {audit.data && audit.data.items.length === 0 ? <p className="muted">No entries yet.</p> : null}
        {audit.data && audit.data.items.length ? <AuditTable entries={audit.data.items} showTarget={false} /> : null}
      </section>
    </>
  );
}

function TaskFields(props: { task: Task }) {
  const t = props.task;
  const rows: [string, React.ReactNode][] = [
    ['Type', TYPE_LABELS[t.taskType]],
    ['Description', t.description ?? '—'],
    ['Execution', `${t.executionType}${t.assignedToBot ? ', by the bot' : ', by a person'}`],
    ['Requires review', t.requiresHumanReview ? 'yes' : 'no'],
    ['Priority', t.priority],
    ['Retries', `${t.errorCount} failed of ${t.maxRetries} retries allowed`],
    ['Timeout', `${t.timeoutSeconds} s`],
    ['Scheduled for', <Time at={t.scheduledFor} />],
    ['Next attempt', <Time at={t.nextAttemptAt} />],
    ['Created', <Time at={t.createdAt} />],
    ['Queued', <Time at={t.queuedAt} />],
    ['Started', <Time at={t.startedAt} />],
    ['Completed', <Time at={t.completedAt} />],
    ['Updated', <Time at={t.updatedAt} />],
    ['Reviewed by', t.reviewedBy ?? '—'],
    ['Reviewed at', <Time at={t.reviewedAt} />],
    ['Review notes', t.reviewNotes ?? '—'],
    ['Notify', [t.notifyOnComplete && 'on completion', t.notifyOnFailure && 'on failure'].filter(Boolean).join(', ') || 'no'],
    ['Source webhook', t.sourceWebhookId ?? '—'],
    ['Idempotency key', t.idempotencyKey ?? '—'],
    ['Depends on', t.dependsOn.length ? t.dependsOn.map((id) => <div key={id}><Link href={`/tasks/${id}`}>{id}</Link></div>) : '—'],
  ];
  return (
    <dl className="fields">
      {rows.map(([label, value]) => (
        <div key={label} className="field-row"><dt>{label}</dt><dd>{value}</dd></div>
      ))}
    </dl>
  );
}

function Attempt(props: { attempt: TaskExecution }) {
  const a = props.attempt;
  const screenshots = a.artifacts.filter((x) => x.kind === 'screenshot');
  const files = a.artifacts.filter((x) => x.kind !== 'screenshot');
  return (
    <li className={`attempt attempt-${a.status}`} data-attempt={a.attemptNumber}>
      <div className="attempt-head">
        <strong>Attempt {a.attemptNumber}</strong>
        <StatusBadge status={a.status} />
        <span className="muted">{a.triggeredBy} · <Time at={a.startedAt} /> · {formatDuration(a.durationMs)}</span>
        <span className="muted small right">{a.workerId}</span>
      </div>
      {a.error ? <pre className="error-text">{a.errorType ? `${a.errorType}: ` : ''}{a.error}</pre> : null}
      {a.steps.length ? (
        <table className="table compact steps">
          <thead><tr><th>#</th><th>Step</th><th>Status</th><th>Duration</th><th>Detail</th></tr></thead>
          <tbody>
            {a.steps.map((s) => (
              <tr key={s.index}>
                <td className="num">{s.index + 1}</td><td>{s.action}</td>
                <td><StatusBadge status={s.status} /></td>
                <td className="num">{formatDuration(s.durationMs)}</td>
                <td><code className="detail">{typeof s.detail === 'string' ? s.detail : JSON.stringify(s.detail)}</code></td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {screenshots.length ? (
        <div className="shots">{screenshots.map((s) => <Screenshot key={s.id} artifact={s} />)}</div>
      ) : null}
      {files.length ? (
        <div className="button-row">
          {files.map((f) => <Download key={f.id} artifact={f}
            label={f.kind === 'trace' ? 'Download trace (zip)' : `Download ${f.name ?? f.kind}`} />)}
        </div>
      ) : null}
      {a.input !== null ? (
        <details className="attempt-input">
          <summary>Input (the config this attempt ran with)</summary>
          <Json value={a.input} label={`Attempt ${a.attemptNumber} input`} />
        </details>
      ) : null}
      {a.output !== null ? (
        <details>
          <summary>Output</summary>
          <Json value={a.output} label={`Attempt ${a.attemptNumber} output`} />
        </details>
      ) : null}
    </li>
  );
}
