// The form for a TaskCreate, one section per task type; browser steps as an editable list.
// Field errors come from the server (`error.data.issues`, by dotted path).
import type { ReactNode } from 'react';
import type { Step, TaskCreate } from '../errands';
import { CREATABLE_TYPES, type CreatableType, TYPE_LABELS } from '../labels';
import { FieldError } from './ui';

export interface StepDraft {
  action: Step['action'];
  url: string; selector: string; text: string; ms: string; name: string; pressEnter: boolean;
}

export interface TaskDraft {
  title: string; description: string; taskType: CreatableType; priority: string; maxRetries: string;
  requiresHumanReview: boolean; manual: boolean; scheduledFor: string;
  cfg: Record<string, string>;
  flags: Record<string, boolean>;
  steps: StepDraft[];
}

export const emptyStep = (action: Step['action'] = 'navigate'): StepDraft =>
  ({ action, url: '', selector: '', text: '', ms: '', name: '', pressEnter: false });

export function emptyDraft(taskType: CreatableType = 'api_call'): TaskDraft {
  return {
    title: '', description: '', taskType, priority: 'normal', maxRetries: '3',
    requiresHumanReview: false, manual: false, scheduledFor: '',
    cfg: { apiMethod: 'GET', authType: 'none', ghlAction: 'add_contact', reportType: 'task_summary' },
    flags: {}, steps: [emptyStep('navigate'), emptyStep('screenshot')],
  };
}

export class DraftError extends Error {
  constructor(public path: string, message: string) { super(message); }
}

function json(path: string, text: string): unknown {
  try { return JSON.parse(text); } catch { throw new DraftError(path, 'is not valid JSON'); }
}

const isoOrNull = (local: string): string | null => local ? new Date(local).toISOString() : null;

/** The draft as tasks.create input; only what was filled in is sent (the server checks it). */
export function toTaskCreate(d: TaskDraft): TaskCreate {
  const c = d.cfg;
  const opt = (name: string) => (c[name] ?? '').trim() || undefined;
  const num = (name: string) => (opt(name) === undefined ? undefined : Number(opt(name)));
  const jsonOpt = (name: string) => opt(name) === undefined ? undefined : json(`executionConfig.${name}`, c[name]);
  const common = {
    title: d.title, description: d.description || null, priority: d.priority as TaskCreate['priority'],
    maxRetries: Number(d.maxRetries), requiresHumanReview: d.requiresHumanReview,
    executionType: d.manual ? 'manual' as const : 'automatic' as const,
    scheduledFor: isoOrNull(d.scheduledFor),
  };
  switch (d.taskType) {
    case 'api_call':
      return { ...common, taskType: 'api_call', executionConfig: {
        apiEndpoint: c.apiEndpoint ?? '', apiMethod: c.apiMethod as 'GET', authType: c.authType as 'none',
        bearerToken: opt('bearerToken'), apiKey: opt('apiKey'), basicUsername: opt('basicUsername'),
        basicPassword: opt('basicPassword'),
        headers: jsonOpt('headers') as Record<string, string> | undefined,
        body: jsonOpt('body') as never, timeoutMs: num('timeoutMs'),
      } };
    case 'browser_automation':
      return { ...common, taskType: 'browser_automation', executionConfig: {
        startUrl: opt('startUrl'), recordTrace: d.flags.recordTrace ?? false,
        stepTimeoutMs: num('stepTimeoutMs'), steps: d.steps.map(toStep),
      } };
    case 'data_extraction':
      return { ...common, taskType: 'data_extraction', executionConfig: {
        url: c.url ?? '', waitFor: opt('waitFor'),
        schema: { baseSelector: opt('baseSelector'), fields: (jsonOpt('fields') ?? []) as never },
      } };
    case 'ghl_action':
      return { ...common, taskType: 'ghl_action', executionConfig: {
        ghlAction: c.ghlAction as 'add_contact', contactId: opt('contactId'), firstName: opt('firstName'),
        lastName: opt('lastName'), email: opt('email'), phone: opt('phone'), message: opt('message'),
        tags: opt('tags')?.split(',').map((t) => t.trim()).filter(Boolean),
      } };
    case 'notification':
      return { ...common, taskType: 'notification', executionConfig: {
        message: c.message ?? '', recipient: opt('recipient'), subject: opt('subject'), webhookId: opt('webhookId'),
      } };
    case 'reminder':
      return { ...common, taskType: 'reminder', executionConfig: {
        message: c.message ?? '', recipient: opt('recipient'), subject: opt('subject'), webhookId: opt('webhookId'),
        remindAt: isoOrNull(c.remindAt ?? ''), delaySeconds: num('delaySeconds'),
      } };
    case 'report_generation':
      return { ...common, taskType: 'report_generation', executionConfig: {
        reportType: c.reportType as 'task_summary', dateFrom: isoOrNull(c.dateFrom ?? ''),
        dateTo: isoOrNull(c.dateTo ?? ''), notify: d.flags.notify ?? false, webhookId: opt('webhookId'),
      } };
    case 'callback':
      return { ...common, taskType: 'callback', executionConfig: {
        timeoutSeconds: num('timeoutSeconds'), expects: opt('expects'),
      } };
  }
}

function toStep(s: StepDraft): Step {
  switch (s.action) {
    case 'navigate': return { action: 'navigate', url: s.url };
    case 'click': return { action: 'click', selector: s.selector };
    case 'type': return { action: 'type', selector: s.selector, text: s.text, pressEnter: s.pressEnter };
    case 'wait': return s.selector ? { action: 'wait', selector: s.selector } : { action: 'wait', ms: Number(s.ms || 0) };
    case 'extract': return { action: 'extract', name: s.name, selector: s.selector };
    case 'screenshot': return { action: 'screenshot', name: s.name || null };
  }
}

export function Field(props: { label: string; path: string; errors: Record<string, string>; children: ReactNode; hint?: string }) {
  const error = props.errors[props.path];
  return (
    <div className={error ? 'field has-error' : 'field'} data-path={props.path}>
      <label>{props.label}{props.children}</label>
      {props.hint ? <div className="hint">{props.hint}</div> : null}
      <FieldError error={error} />
    </div>
  );
}

interface FormProps {
  draft: TaskDraft;
  onChange: (d: TaskDraft) => void;
  errors: Record<string, string>;
  webhooks: { id: string; name: string }[];
  prefix?: string; // path prefix of the issues, e.g. "task." inside a schedule
}

export function TaskFormFields(props: FormProps) {
  const { draft: d, onChange, errors, prefix = '' } = props;
  const set = (patch: Partial<TaskDraft>) => onChange({ ...d, ...patch });
  const setCfg = (name: string, value: string) => onChange({ ...d, cfg: { ...d.cfg, [name]: value } });
  const setFlag = (name: string, value: boolean) => onChange({ ...d, flags: { ...d.flags, [name]: value } });
  const p = (path: string) => `${prefix}${path}`;
  const text = (name: string, label: string, hint?: string, type = 'text') => (
    <Field label={label} path={p(`executionConfig.${name}`)} errors={errors} hint={hint}>
      <input type={type} value={d.cfg[name] ?? ''} onChange={(e) => setCfg(name, e.target.value)} />
    </Field>
  );
  const area = (name: string, label: string, hint?: string) => (
    <Field label={label} path={p(`executionConfig.${name}`)} errors={errors} hint={hint}>
      <textarea rows={3} className="mono" value={d.cfg[name] ?? ''} onChange={(e) => setCfg(name, e.target.value)} />
    </Field>
  );
  const choice = (name: string, label: string, options: string[]) => (
    <Field label={label} path={p(`executionConfig.${name}`)} errors={errors}>
      <select value={d.cfg[name] ?? options[0]} onChange={(e) => setCfg(name, e.target.value)}>
        {options.map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
    </Field>
  );
  const webhook = () => (
    <Field label="Webhook" path={p('executionConfig.webhookId')} errors={errors}>
      <select value={d.cfg.webhookId ?? ''} onChange={(e) => setCfg('webhookId', e.target.value)}>
        <option value="">— none —</option>
        {props.webhooks.map((w) => <option key={w.id} value={w.id}>{w.name}</option>)}
      </select>
    </Field>
  );
  return (
    <>
      <div className="form-grid">
        <Field label="Title" path={p('title')} errors={errors}>
          <input value={d.title} onChange={(e) => set({ title: e.target.value })} />
        </Field>
        <Field label="Task type" path={p('taskType')} errors={errors}>
          <select value={d.taskType} onChange={(e) => set({ taskType: e.target.value as CreatableType })}>
            {CREATABLE_TYPES.map((t) => <option key={t} value={t}>{TYPE_LABELS[t]}</option>)}
          </select>
        </Field>
        <Field label="Description" path={p('description')} errors={errors}>
          <input value={d.description} onChange={(e) => set({ description: e.target.value })} />
        </Field>
        <Field label="Priority" path={p('priority')} errors={errors}>
          <select value={d.priority} onChange={(e) => set({ priority: e.target.value })}>
            {['low', 'normal', 'high', 'urgent'].map((o) => <option key={o}>{o}</option>)}
          </select>
        </Field>
        <Field label="Retries allowed" path={p('maxRetries')} errors={errors}>
          <input type="number" value={d.maxRetries} onChange={(e) => set({ maxRetries: e.target.value })} />
        </Field>
        <Field label="Scheduled for (local time)" path={p('scheduledFor')} errors={errors} hint="empty: run now">
          <input type="datetime-local" value={d.scheduledFor} onChange={(e) => set({ scheduledFor: e.target.value })} />
        </Field>
      </div>
      <div className="checks">
        <label><input type="checkbox" checked={d.requiresHumanReview}
          onChange={(e) => set({ requiresHumanReview: e.target.checked })} /> Requires human review</label>
        <label><input type="checkbox" checked={d.manual}
          onChange={(e) => set({ manual: e.target.checked })} /> Manual (waits for “Execute”)</label>
      </div>
      <h3>{TYPE_LABELS[d.taskType]} settings</h3>
      <div className="form-grid">
        {d.taskType === 'api_call' ? <>
          {text('apiEndpoint', 'Endpoint URL', 'http or https')}
          {choice('apiMethod', 'Method', ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])}
          {choice('authType', 'Authentication', ['none', 'bearer', 'api_key', 'basic'])}
          {d.cfg.authType === 'bearer' ? text('bearerToken', 'Bearer token', undefined, 'password') : null}
          {d.cfg.authType === 'api_key' ? text('apiKey', 'API key (sent in X-API-Key)', undefined, 'password') : null}
          {d.cfg.authType === 'basic' ? <>{text('basicUsername', 'Username')}{text('basicPassword', 'Password', undefined, 'password')}</> : null}
          {text('timeoutMs', 'Timeout (ms)', 'default 30000')}
          {area('headers', 'Headers (JSON object)')}
          {area('body', 'Body (JSON)')}
        </> : null}
        {d.taskType === 'browser_automation' ? <>
          {text('startUrl', 'Start URL')}
          {text('stepTimeoutMs', 'Step timeout (ms)', 'default 15000')}
          <label className="check"><input type="checkbox" checked={d.flags.recordTrace ?? false}
            onChange={(e) => setFlag('recordTrace', e.target.checked)} /> Record a Playwright trace</label>
        </> : null}
        {d.taskType === 'data_extraction' ? <>
          {text('url', 'Page URL')}
          {text('waitFor', 'Wait for selector')}
          {text('baseSelector', 'Base selector (a list of items)')}
          {area('fields', 'Fields (JSON list)', '[{"name": "title", "selector": "h1", "type": "text"}]')}
        </> : null}
        {d.taskType === 'ghl_action' ? <>
          {choice('ghlAction', 'Action', ['add_contact', 'update_contact', 'send_sms', 'create_opportunity', 'add_tag'])}
          {text('contactId', 'Contact id')}
          {text('firstName', 'First name')}{text('lastName', 'Last name')}
          {text('email', 'Email')}{text('phone', 'Phone')}
          {text('message', 'Message (SMS)')}{text('tags', 'Tags (comma-separated)')}
        </> : null}
        {d.taskType === 'notification' || d.taskType === 'reminder' ? <>
          {area('message', 'Message')}
          {text('recipient', 'Recipient')}{text('subject', 'Subject')}
          {webhook()}
          {d.taskType === 'reminder' ? <>
            {text('remindAt', 'Remind at (local time)', undefined, 'datetime-local')}
            {text('delaySeconds', 'or after (seconds)')}
          </> : null}
        </> : null}
        {d.taskType === 'report_generation' ? <>
          {choice('reportType', 'Report', ['task_summary', 'execution_stats', 'webhook_activity'])}
          {text('dateFrom', 'From', 'default: 7 days ago', 'datetime-local')}
          {text('dateTo', 'To', 'default: now', 'datetime-local')}
          {webhook()}
          <label className="check"><input type="checkbox" checked={d.flags.notify ?? false}
            onChange={(e) => setFlag('notify', e.target.checked)} /> Send it to the webhook</label>
        </> : null}
      </div>
      {d.taskType === 'browser_automation' ? <StepsEditor draft={d} onChange={onChange} errors={errors} prefix={prefix} /> : null}
      <FieldError error={errors[p('executionConfig')]} />
    </>
  );
}

const ACTIONS: Step['action'][] = ['navigate', 'click', 'type', 'wait', 'extract', 'screenshot'];

function StepsEditor(props: { draft: TaskDraft; onChange: (d: TaskDraft) => void; errors: Record<string, string>; prefix: string }) {
  const { draft: d, onChange, errors, prefix } = props;
  const setStep = (i: number, patch: Partial<StepDraft>) =>
    onChange({ ...d, steps: d.steps.map((s, j) => (i === j ? { ...s, ...patch } : s)) });
  const move = (i: number, by: number) => {
    const steps = [...d.steps];
    const [s] = steps.splice(i, 1);
    steps.splice(i + by, 0, s);
    onChange({ ...d, steps });
  };
  return (
    <fieldset className="steps-editor">
      <legend>Steps</legend>
      <FieldError error={errors[`${prefix}executionConfig.steps`]} />
      <ol>
        {d.steps.map((s, i) => {
          const path = `${prefix}executionConfig.steps.${i}`;
          const err = (name: string) => errors[`${path}.${name}`] && `${name}: ${errors[`${path}.${name}`]}`;
          return (
            <li key={i} className="step-row" data-step={i}>
              <span className="step-no">{i + 1}</span>
              <select aria-label={`Step ${i + 1} action`} value={s.action}
                onChange={(e) => setStep(i, { action: e.target.value as Step['action'] })}>
                {ACTIONS.map((a) => <option key={a}>{a}</option>)}
              </select>
              {s.action === 'navigate' ? <input aria-label={`Step ${i + 1} URL`} placeholder="https://…" value={s.url} onChange={(e) => setStep(i, { url: e.target.value })} /> : null}
              {['click', 'type', 'wait', 'extract'].includes(s.action) ? <input aria-label={`Step ${i + 1} selector`} placeholder="CSS selector" value={s.selector} onChange={(e) => setStep(i, { selector: e.target.value })} /> : null}
              {s.action === 'type' ? <input aria-label={`Step ${i + 1} text`} placeholder="text to type" value={s.text} onChange={(e) => setStep(i, { text: e.target.value })} /> : null}
              {s.action === 'wait' ? <input aria-label={`Step ${i + 1} milliseconds`} placeholder="or ms" value={s.ms} onChange={(e) => setStep(i, { ms: e.target.value })} /> : null}
              {s.action === 'extract' || s.action === 'screenshot' ? <input aria-label={`Step ${i + 1} name`} placeholder="name" value={s.name} onChange={(e) => setStep(i, { name: e.target.value })} /> : null}
              <span className="step-tools">
                <button type="button" className="icon" aria-label={`Move step ${i + 1} up`} disabled={i === 0} onClick={() => move(i, -1)}>↑</button>
                <button type="button" className="icon" aria-label={`Move step ${i + 1} down`} disabled={i === d.steps.length - 1} onClick={() => move(i, 1)}>↓</button>
                <button type="button" className="icon" aria-label={`Remove step ${i + 1}`} onClick={() => onChange({ ...d, steps: d.steps.filter((_, j) => j !== i) })}>✕</button>
              </span>
              <FieldError error={err('url') ?? err('selector') ?? err('text') ?? err('name') ?? errors[path]} />
            </li>
          );
        })}
      </ol>
      <button type="button" onClick={() => onChange({ ...d, steps: [...d.steps, emptyStep('click')] })}>Add step</button>
    </fieldset>
  );
}
