import { useEffect, useState } from 'react';
import { Link } from 'wouter';
import type { RetryPolicyOutput, Task, TaskExecution } from '../errands';
import { useDebounced, useLoad } from '../hooks';
import { latest, TYPE_LABELS } from '../labels';
import { useSession, useTaskEvents } from '../session';
import { Download, Screenshot } from '../components/Artifacts';
import { TaskActions } from '../components/TaskActions';
import { AuditTable } from '../components/AuditTable';
import { DependencyGraph, loadChain } from '../components/DependencyGraph';
import {
  Alert, Copy, formatDuration, humanizeTimes, Id, Json, JsonBlock, PageHeader, Spinner, StalledBadge, StatusBadge, Tags, Time,
} from '../components/ui';

export function TaskDetail(props: { id: string }) {
  const { client } = useSession();
  const loaded = useLoad(() => client.tasks.get.query({ id: props.id }), [client, props.id]);
  const attempts = useLoad(() => client.tasks.executions.query({ taskId: props.id }), [client, props.id]);
  const [task, setTask] = useState<Task | undefined>(undefined);
  useEffect(() => { setTask(undefined); }, [props.id]);
  useEffect(() => { const got = loaded.data; if (got && got.id === props.id) setTask((t) => latest(t, got)); }, [loaded.data, props.id]);
  const audit = useLoad(() => client.audit.list.query({ targetId: props.id, limit: 50 }), [client, props.id]);
  const chain = useLoad(() => task ? loadChain(client, task) : Promise.resolve(undefined),
    [client, task?.id, task?.status, task?.dependsOn.join()]);
  const isGroup = task?.taskType === 'group';
  const subtasks = useLoad(() => isGroup ? client.tasks.list.query({ parentId: props.id, limit: 200 })
    .then((page) => [...page.items].sort((a, b) => (a.id < b.id ? -1 : 1))) : Promise.resolve(undefined),
  [client, props.id, isGroup]);
  const parent = useLoad(() => task?.parentId ? client.tasks.get.query({ id: task.parentId }) : Promise.resolve(undefined),
    [client, task?.parentId]);
  const reloadSubtasks = useDebounced(subtasks.reload, 500);
  const reloadAttempts = useDebounced(attempts.reload, 200);
  const reloadAudit = useDebounced(audit.reload, 500);
  const reloadChain = useDebounced(chain.reload, 2000);
  useTaskEvents((event) => {
    if (chain.data?.nodes.has(event.task.id) && event.task.id !== props.id) reloadChain();
    if (isGroup && event.task.parentId === props.id) reloadSubtasks();
    if (event.task.id !== props.id) return;
    setTask((t) => latest(t, event.task));
    if (event.type === 'execution') reloadAttempts();
    reloadAudit();
  });
  if (loaded.error) return <><PageHeader title="Task" /><Alert>{loaded.error}</Alert></>;
  if (!task) return <div className="center"><Spinner /></div>;
  const dependents = chain.data ? [...chain.data.nodes.values()].filter((n) => n.level === 1
    && chain.data!.edges.some(([a, b]) => a === task.id && b === n.task.id)).map((n) => n.task) : [];
  const dependencies = chain.data ? task.dependsOn.map((id) => chain.data!.nodes.get(id)?.task).filter((t): t is Task => !!t) : [];
  const newestFirst = [...(attempts.data ?? [])].sort((a, b) => b.attemptNumber - a.attemptNumber);
  return (
    <>
      <PageHeader title={task.title} sub={<>
        <Link href="/tasks">Tasks</Link> / {task.parentId ? <>
          <Link href={`/tasks/${task.parentId}`}>{parent.data ? parent.data.title : task.parentId}</Link> / </> : null}
        <Id id={task.id} />
      </>}>
        <StatusBadge status={task.status} />
        <StalledBadge since={task.stalledSince} />
      </PageHeader>
      {task.statusReason ? <p className="status-reason">{humanizeTimes(task.statusReason)}</p> : null}
      <TaskActions key={task.id} task={task} full onDone={(done) => { setTask((t) => latest(t, done)); reloadAttempts(); reloadAudit(); }} />
      {task.status === 'in_progress' ? <Running task={task} attempts={attempts.data ?? []} /> : null}
      {task.lastError ? (
        <section className="card error-card" aria-label="Last error">
          <div className="section-head"><h2>Last error</h2><Copy text={task.lastError} what="error" /></div>
          <pre className="error-text">{task.lastError}</pre>
        </section>
      ) : null}
      {isGroup ? <Subtasks group={task} items={subtasks.data} error={subtasks.error ?? undefined} /> : (
        <section className="card" aria-labelledby="attempts-title">
          <h2 id="attempts-title">Attempts{attempts.data?.length ? ` (${attempts.data.length}, newest first)` : ''}</h2>
          {attempts.error ? <Alert>{attempts.error}</Alert> : null}
          {attempts.data && attempts.data.length === 0 ? <p className="muted">No attempts yet.</p> : null}
          <ol className="timeline">
            {newestFirst.map((attempt) => <Attempt key={attempt.id} attempt={attempt} />)}
          </ol>
        </section>
      )}
      {task.result !== null || task.resultSummary ? (
        <section className="card" aria-labelledby="result-title">
          <h2 id="result-title">Result</h2>
          {task.resultSummary ? <p className="summary">{task.resultSummary}</p> : null}
          {task.result !== null ? <JsonBlock value={task.result} label="Result" /> : null}
        </section>
      ) : null}
      {task.dependsOn.length || dependents.length ? (
        <section className="card" aria-labelledby="deps-title">
          <h2 id="deps-title">Dependencies</h2>
          {chain.error ? <Alert>{chain.error}</Alert> : null}
          <div className="deps">
            <div>
              <h3>Depends on</h3>
              {task.dependsOn.length ? <ul aria-label="Depends on">{task.dependsOn.map((id) => {
                const dep = dependencies.find((t) => t.id === id);
                return <li key={id}><Link href={`/tasks/${id}`}>{dep ? dep.title : id}</Link> {dep ? <StatusBadge status={dep.status} /> : null}</li>;
              })}</ul> : <p className="muted">Nothing.</p>}
            </div>
            <div>
              <h3>Dependents</h3>
              {dependents.length ? <ul aria-label="Dependents">{dependents.map((t) => (
                <li key={t.id}><Link href={`/tasks/${t.id}`}>{t.title}</Link> <StatusBadge status={t.status} /></li>
              ))}</ul> : <p className="muted">No task depends on this one.</p>}
              {dependents.length ? <p className="hint"><Link href={`/tasks?dependsOn=${task.id}`}>In the task list</Link></p> : null}
            </div>
          </div>
          {chain.data && chain.data.nodes.size > 1 ? <DependencyGraph chain={chain.data} current={task.id} /> : null}
        </section>
      ) : null}
      <section className="card" aria-labelledby="fields-title">
        <h2 id="fields-title">Fields</h2>
        <TaskFields task={task} />
        <JsonBlock value={task.executionConfig} label="Execution config" open={false} />
        <p className="hint">Secrets read <code>********</code>, as the server masks them.</p>
        {task.metadata ? <JsonBlock value={task.metadata} label="Metadata" open={false} /> : null}
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

/** "base 1 s, factor 3, at most 4 s": the task's own backoff (CONTRACT §15), the parts it
 * sets (the others are the server's defaults). */
function retryPolicy(p: RetryPolicyOutput): string | null {
  const parts = [p.baseSeconds !== null && `base ${p.baseSeconds} s`, p.factor !== null && `factor ${p.factor}`,
    p.maxSeconds !== null && `at most ${p.maxSeconds} s`].filter(Boolean);
  return parts.length ? parts.join(', ') : null;
}

/** The fields that are set (no rows of "—"). */
function TaskFields(props: { task: Task }) {
  const t = props.task;
  const rows: [string, React.ReactNode][] = [
    ['Type', TYPE_LABELS[t.taskType]],
    ['Description', t.description],
    ['Execution', `${t.executionType}${t.assignedToBot ? ', by the bot' : ', by a person'}`],
    ['Assignee', t.assignee],
    ['Tags', t.tags.length ? <Tags tags={t.tags} /> : null],
    ['Deadline', t.deadline && <Time at={t.deadline} absolute />],
    ['Requires review', t.requiresHumanReview ? 'yes' : null],
    ['Priority', t.priority],
    ['Retries', `${t.errorCount} failed of ${t.maxRetries} retries allowed`],
    ['Timeout', `${t.timeoutSeconds} s`],
    ['Concurrency key', t.concurrencyKey && <><code>{t.concurrencyKey}</code>, at most {t.concurrencyLimit} at once</>],
    ['Rate limit key', t.rateLimitKey && <Link href="/rate-limits"><code>{t.rateLimitKey}</code></Link>],
    ['Retry policy', t.retryPolicy && retryPolicy(t.retryPolicy)],
    ['Debounce', t.debounce && <><code>{t.debounce.key}</code>, {t.debounce.seconds} s</>],
    ['Scheduled for', t.scheduledFor && <Time at={t.scheduledFor} />],
    ['Next attempt', t.nextAttemptAt && <Time at={t.nextAttemptAt} />],
    ['Created', <Time at={t.createdAt} />],
    ['Queued', t.queuedAt && <Time at={t.queuedAt} />],
    ['Started', t.startedAt && <Time at={t.startedAt} />],
    ['Completed', t.completedAt && <Time at={t.completedAt} />],
    ['Updated', <Time at={t.updatedAt} />],
    ['Reviewed by', t.reviewedBy],
    ['Reviewed at', t.reviewedAt && <Time at={t.reviewedAt} />],
    ['Review notes', t.reviewNotes],
    ['Notify', [t.notifyOnComplete && 'on completion', t.notifyOnFailure && 'on failure'].filter(Boolean).join(', ') || null],
    ['Source webhook', t.sourceWebhookId && <Id id={t.sourceWebhookId} />],
    ['Idempotency key', t.idempotencyKey && <Id id={t.idempotencyKey} />],
    ['Group', t.parentId && <Link href={`/tasks/${t.parentId}`}><code>{t.parentId}</code></Link>],
    ['Duplicate of', typeof t.metadata?.duplicateOf === 'string'
      ? <Link href={`/tasks/${t.metadata.duplicateOf}`}><code>{t.metadata.duplicateOf}</code></Link> : null],
  ];
  return (
    <dl className="fields">
      {rows.filter(([, value]) => value !== null && value !== undefined && value !== '').map(([label, value]) => (
        <div key={label} className="field-row"><dt>{label}</dt><dd>{value}</dd></div>
      ))}
    </dl>
  );
}

/** How far the running attempt is (task.progress) and the link to its live view. */
function Running(props: { task: Task; attempts: TaskExecution[] }) {
  const p = props.task.progress;
  const live = props.attempts.find((a) => a.status === 'running' && a.debugUrl);
  if (!p && !live) return null;
  const text = p ? (p.done < p.total ? `Step ${p.done + 1} of ${p.total}` : `${p.total} of ${p.total} steps done`)
    + (p.message ? ` — ${p.message}` : '') : null;
  return (
    <section className="card running-card" aria-label="Progress">
      {p && text ? <>
        <label className="progress-label" htmlFor="task-progress">{text}</label>
        <progress id="task-progress" max={p.total} value={p.done} />
      </> : null}
      {live?.debugUrl ? (
        <p className="button-row"><Link className="button" href={`${live.debugUrl}?task=${props.task.id}`}>Live view</Link></p>
      ) : null}
    </section>
  );
}

function Subtasks(props: { group: Task; items: Task[] | undefined; error: string | undefined }) {
  const counts = props.group.children;
  return (
    <section className="card" aria-labelledby="subtasks-title">
      <h2 id="subtasks-title">Subtasks</h2>
      {counts ? (
        <p className="summary">
          {counts.total} subtasks: {counts.completed} completed, {counts.failed} failed, {counts.cancelled} cancelled
          {props.group.groupPolicy ? <> · policy <code>{props.group.groupPolicy}</code></> : null}
        </p>
      ) : null}
      {props.error ? <Alert>{props.error}</Alert> : null}
      {props.items ? (
        <ol aria-label="Subtasks" className="subtasks">
          {props.items.map((t) => (
            <li key={t.id}><Link href={`/tasks/${t.id}`}>{t.title}</Link> <StatusBadge status={t.status} /></li>
          ))}
        </ol>
      ) : <Spinner />}
      <p className="hint"><Link href={`/tasks?parentId=${props.group.id}`}>In the task list</Link></p>
    </section>
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
      {a.error ? <div className="attempt-error"><pre className="error-text">{a.errorType ? `${a.errorType}: ` : ''}{a.error}</pre><Copy text={a.error} what={`attempt ${a.attemptNumber} error`} /></div> : null}
      {a.steps.length ? (
        <div className="table-wrap"><table className="table compact steps responsive">
          <thead><tr><th>#</th><th>Step</th><th>Status</th><th>Duration</th><th>Detail</th></tr></thead>
          <tbody>
            {a.steps.map((s) => (
              <tr key={s.index}>
                <td className="num" data-label="Step">{s.index + 1}</td><td>{s.action}</td>
                <td data-label="Status"><StatusBadge status={s.status} /></td>
                <td className="num" data-label="Duration">{formatDuration(s.durationMs)}</td>
                <td data-label="Detail"><code className="detail">{typeof s.detail === 'string' ? s.detail : JSON.stringify(s.detail)}</code></td>
              </tr>
            ))}
          </tbody>
        </table></div>
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
