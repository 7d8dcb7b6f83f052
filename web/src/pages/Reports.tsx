import { useMemo, useState } from 'react';
import { Link } from 'wouter';
import type { JsonValue, ReportType, Task } from '../errands';
import { useAction, useDebounced, useLoad } from '../hooks';
import { latest } from '../labels';
import { useFreshest, useSession, useTaskEvents } from '../session';
import { BarChart } from '../components/BarChart';
import { Alert, Empty, formatDuration, PageHeader, StatusBadge, Time } from '../components/ui';

const REPORTS: { type: ReportType; label: string }[] = [
  { type: 'task_summary', label: 'Task summary' },
  { type: 'execution_stats', label: 'Execution statistics' },
  { type: 'webhook_activity', label: 'Webhook activity' },
];
const dayInput = (d: Date) => d.toISOString().slice(0, 10);

export function Reports() {
  const { client, can } = useSession();
  const [reportType, setReportType] = useState<ReportType>('task_summary');
  const [from, setFrom] = useState(() => dayInput(new Date(Date.now() - 6 * 86_400_000)));
  const [to, setTo] = useState(() => dayInput(new Date()));
  const [shown, setShown] = useState<Task | null>(null);
  const recent = useLoad(() => client.tasks.list.query({ taskType: 'report_generation', limit: 20 }), [client]);
  const run = useAction();
  const freshest = useFreshest();
  const reloadRecent = useDebounced(recent.reload, 300);
  useTaskEvents((event) => {
    if (event.task.taskType !== 'report_generation') return;
    setShown((t) => (t && t.id === event.task.id ? latest(t, event.task) : t));
    reloadRecent();
  });
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const dateTo = new Date(`${to}T00:00:00`);
    dateTo.setDate(dateTo.getDate() + 1); // the whole last day
    const task = await run.run(() => client.tasks.create.mutate({
      title: `${REPORTS.find((r) => r.type === reportType)?.label} ${from} to ${to}`,
      taskType: 'report_generation',
      executionConfig: { reportType, dateFrom: new Date(`${from}T00:00:00`).toISOString(), dateTo: dateTo.toISOString() },
    }));
    if (task) setShown(freshest(task));
  }
  return (
    <>
      <PageHeader title="Reports" sub="Each report runs as a report_generation task over the dates you choose (your local days)." />
      {can('create') ? (
        <form className="card inline-form" onSubmit={submit} aria-label="Run a report">
          <label>Report
            <select aria-label="Report" value={reportType} onChange={(e) => setReportType(e.target.value as ReportType)}>
              {REPORTS.map((r) => <option key={r.type} value={r.type}>{r.label}</option>)}
            </select>
          </label>
          <label>From <input type="date" value={from} onChange={(e) => setFrom(e.target.value)} /></label>
          <label>To (inclusive) <input type="date" value={to} onChange={(e) => setTo(e.target.value)} /></label>
          <button type="submit" className="primary" disabled={run.busy}>Run report</button>
        </form>
      ) : <p className="muted">Your role may read reports that others ran.</p>}
      {run.error ? <Alert>{run.error}</Alert> : null}
      {shown ? <ReportView task={shown} /> : null}
      <section className="card">
        <h2>Recent reports</h2>
        {recent.data && recent.data.items.length === 0 ? <Empty>No reports yet.</Empty> : null}
        <table className="table compact">
          <tbody>
            {(recent.data?.items ?? []).map((t) => (
              <tr key={t.id} className={shown?.id === t.id ? 'selected' : ''}>
                <td><button type="button" className="link" onClick={() => setShown(freshest(t))}>{t.title}</button></td>
                <td><StatusBadge status={t.status} /></td>
                <td><Time at={t.createdAt} /></td>
                <td><Link href={`/tasks/${t.id}`}>task</Link></td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}

type Obj = { [key: string]: JsonValue };
const obj = (v: JsonValue | undefined): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
const num = (v: JsonValue | undefined): number => (typeof v === 'number' ? v : 0);
const pct = (v: JsonValue | undefined) => (typeof v === 'number' ? `${(v * 100).toFixed(1)} %` : '—');

function ReportView(props: { task: Task }) {
  const { task } = props;
  const result = obj(task.result);
  if (task.status !== 'completed') {
    return (
      <section className="card" aria-label="Report">
        <h2>{task.title}</h2>
        <p><StatusBadge status={task.status} /> {task.lastError ?? 'running…'}</p>
      </section>
    );
  }
  const data = obj(result.data);
  const period = obj(result.period);
  return (
    <section className="card" aria-label="Report">
      <h2>{task.title}</h2>
      <p className="muted">Period <Time at={period.from as string} /> to <Time at={period.to as string} /></p>
      {typeof result.summary === 'string' ? <p className="summary">{result.summary}</p> : null}
      {result.reportType === 'task_summary' ? <TaskSummary data={data} /> : null}
      {result.reportType === 'execution_stats' ? <ExecutionStats data={data} /> : null}
      {result.reportType === 'webhook_activity' ? <WebhookActivity data={data} /> : null}
    </section>
  );
}

function Counts(props: { title: string; counts: Obj; color?: string }) {
  const entries = Object.entries(props.counts).map(([k, v]) => [k, num(v)] as const);
  const labels = useMemo(() => entries.map(([k]) => k), [JSON.stringify(entries)]);
  const series = useMemo(() => [{ label: props.title, values: entries.map(([, v]) => v), color: props.color ?? '#5b7fe0' }], [JSON.stringify(entries)]);
  return (
    <div className="report-block">
      <h3>{props.title}</h3>
      {entries.length === 0 ? <p className="muted">None in this period.</p> : <>
        <BarChart title={props.title} labels={labels} series={series} height={180} />
        <table className="table compact">
          <tbody>{entries.map(([k, v]) => <tr key={k}><td>{k}</td><td className="num">{v}</td></tr>)}</tbody>
        </table>
      </>}
    </div>
  );
}

function TaskSummary(props: { data: Obj }) {
  const d = props.data;
  return (
    <>
      <div className="kpis"><div><span>Tasks</span><strong>{num(d.total)}</strong></div></div>
      <div className="grid-3">
        <Counts title="By status" counts={obj(d.byStatus)} />
        <Counts title="By type" counts={obj(d.byType)} />
        <Counts title="By priority" counts={obj(d.byPriority)} />
      </div>
    </>
  );
}

function ExecutionStats(props: { data: Obj }) {
  const d = props.data;
  const byType = Object.entries(obj(d.byType)).map(([k, v]) => [k, obj(v)] as const);
  const key = JSON.stringify(byType);
  const labels = useMemo(() => byType.map(([k]) => k), [key]);
  const series = useMemo(() => [
    { label: 'Attempts', values: byType.map(([, v]) => num(v.attempts)), color: '#9db4f0' },
    { label: 'Failed', values: byType.map(([, v]) => num(v.failed)), color: '#d9534f' },
  ], [key]);
  const dur = obj(d.durationMs);
  return (
    <>
      <div className="kpis">
        <div><span>Attempts</span><strong>{num(d.attempts)}</strong></div>
        <div><span>Succeeded</span><strong>{num(d.succeeded)}</strong></div>
        <div><span>Failed</span><strong>{num(d.failed)}</strong></div>
        <div><span>Success rate</span><strong>{pct(d.successRate)}</strong></div>
        {Object.entries(dur).map(([k, v]) => <div key={k}><span>{k} duration</span><strong>{formatDuration(v as number | null)}</strong></div>)}
      </div>
      {byType.length === 0 ? <p className="muted">No attempts in this period.</p> : <>
        <BarChart title="Attempts and failures by task type" labels={labels} series={series} />
        <table className="table compact">
          <thead><tr><th>Type</th><th>Attempts</th><th>Succeeded</th><th>Failed</th><th>Success rate</th><th>p50</th><th>p95</th><th>Failures by kind</th></tr></thead>
          <tbody>
            {byType.map(([k, v]) => (
              <tr key={k}>
                <td>{k}</td><td className="num">{num(v.attempts)}</td><td className="num">{num(v.succeeded)}</td>
                <td className="num">{num(v.failed)}</td><td className="num">{pct(v.successRate)}</td>
                <td className="num">{formatDuration(obj(v.durationMs).p50 as number | null)}</td>
                <td className="num">{formatDuration(obj(v.durationMs).p95 as number | null)}</td>
                <td>{Object.entries(obj(v.failuresByErrorType)).map(([e, n]) => `${e}: ${num(n)}`).join(', ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </>}
    </>
  );
}

function WebhookActivity(props: { data: Obj }) {
  const d = props.data;
  const latency = obj(d.deliveryLatencyMs);
  const failing = Array.isArray(d.failingWebhooks) ? d.failingWebhooks.map(obj) : [];
  return (
    <>
      <div className="kpis">
        <div><span>Messages</span><strong>{num(d.total)}</strong></div>
        <div><span>Delivery tries</span><strong>{num(d.attempts)}</strong></div>
        {Object.entries(latency).map(([k, v]) => <div key={k}><span>latency {k}</span><strong>{formatDuration(v as number | null)}</strong></div>)}
      </div>
      <div className="grid-2">
        <Counts title="By status" counts={obj(d.byStatus)} />
        <Counts title="By kind" counts={obj(d.byKind)} />
      </div>
      <h3>Failing webhooks</h3>
      {failing.length === 0 ? <p className="muted">None.</p> : (
        <table className="table compact">
          <thead><tr><th>Webhook</th><th>Failed</th><th>Delivered</th></tr></thead>
          <tbody>{failing.map((w) => <tr key={String(w.webhookId)}><td>{String(w.name ?? w.webhookId)}</td><td className="num">{num(w.failed)}</td><td className="num">{num(w.delivered)}</td></tr>)}</tbody>
        </table>
      )}
    </>
  );
}
