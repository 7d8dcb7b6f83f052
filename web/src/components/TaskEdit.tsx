// Edit a task before it runs (tasks.update): its fields and, key by key, its execution config.
// The server validates the patch as on create; its issues (under `patch.`) show at their fields.
import { useEffect, useRef, useState } from 'react';
import { errorMessage, issuesByPath } from '../api';
import type { JsonValue, Task, TaskPatch } from '../errands';
import { Field } from './TaskForm';
import { Alert } from './ui';

type Values = Record<string, string>;

const toLocal = (iso: string | null): string => {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

/** A config value as the text of its input: strings as they are, everything else as JSON. */
const asText = (v: JsonValue): string => typeof v === 'string' ? v : v === null ? '' : JSON.stringify(v, null, 1);

/** The text of an input back to a value of the same kind as `old`. */
function fromText(text: string, old: JsonValue): JsonValue {
  if (typeof old === 'string') return text;
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    if (old === null) return text; // a string field that was empty
    throw new Error('is not valid JSON');
  }
}

export function TaskEdit(props: { task: Task; onSaved: (task: Task) => void; onClose: () => void;
  save: (patch: TaskPatch) => Promise<Task>;
  /** The form's heading and its submit button (an "Edit and retry" form says so). */
  heading?: string; submitLabel?: string;
  /** Submit even with nothing changed (a retry as it was). */
  allowEmpty?: boolean;
  /** Told whether the form holds changes not saved yet (an approval covers only saved ones). */
  onDirty?: (dirty: boolean) => void }) {
  const { task } = props;
  const config = task.executionConfig;
  const [fields, setFields] = useState<Values>(() => ({
    title: task.title, description: task.description ?? '', priority: task.priority,
    maxRetries: String(task.maxRetries), timeoutSeconds: String(task.timeoutSeconds),
    scheduledFor: toLocal(task.scheduledFor), tags: task.tags.join(', '), deadline: toLocal(task.deadline),
  }));
  const [cfg, setCfg] = useState<Values>(() =>
    Object.fromEntries(Object.entries(config).map(([k, v]) => [k, asText(v)])));
  const [whole, setWhole] = useState<string | null>(null); // the config as one JSON text, when chosen
  const [shape, setShape] = useState<Record<string, JsonValue>>(config); // the settings shown, by kind
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [wholeBase, setWholeBase] = useState<string | null>(null); // `whole` when first shown
  const initial = useRef({ fields: JSON.stringify(fields), cfg: JSON.stringify(cfg) });
  const dirty = JSON.stringify(fields) !== initial.current.fields
    || JSON.stringify(cfg) !== initial.current.cfg || (whole !== null && whole !== wholeBase);
  const { onDirty } = props;
  useEffect(() => { onDirty?.(dirty); }, [dirty, onDirty]);
  useEffect(() => () => { onDirty?.(false); }, [onDirty]);

  function patch(): TaskPatch {
    const out: TaskPatch = {};
    const bad: Record<string, string> = {};
    if (fields.title !== task.title) out.title = fields.title;
    if (fields.description !== (task.description ?? '')) out.description = fields.description;
    if (fields.priority !== task.priority) out.priority = fields.priority as Task['priority'];
    if (fields.maxRetries !== String(task.maxRetries)) out.maxRetries = Number(fields.maxRetries);
    if (fields.timeoutSeconds !== String(task.timeoutSeconds)) out.timeoutSeconds = Number(fields.timeoutSeconds);
    if (fields.scheduledFor && fields.scheduledFor !== toLocal(task.scheduledFor)) {
      out.scheduledFor = new Date(fields.scheduledFor).toISOString();
    }
    const tags = fields.tags.split(',').map((t) => t.trim()).filter(Boolean);
    if (tags.join(',') !== task.tags.join(',')) out.tags = tags;
    if (fields.deadline && fields.deadline !== toLocal(task.deadline)) {
      out.deadline = new Date(fields.deadline).toISOString();
    }
    let next: Record<string, JsonValue> = {};
    if (whole !== null) {
      try {
        const parsed = JSON.parse(whole) as JsonValue;
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error();
        next = parsed;
      } catch { bad['patch.executionConfig'] = 'is not a JSON object'; }
    } else {
      for (const [key, old] of Object.entries(shape)) {
        try { next[key] = fromText(cfg[key] ?? '', old); } catch (e) {
          bad[`patch.executionConfig.${key}`] = (e as Error).message;
        }
      }
    }
    if (Object.keys(bad).length) { setErrors(bad); throw new Error('fix the fields marked in red'); }
    if (JSON.stringify(next) !== JSON.stringify(config)) out.executionConfig = next;
    return out;
  }

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setErrors({});
    setMessage(null);
    let body: TaskPatch;
    try { body = patch(); } catch (err) { setMessage(`Not saved: ${(err as Error).message}.`); return; }
    if (Object.keys(body).length === 0 && !props.allowEmpty) { setMessage('Nothing was changed.'); return; }
    setBusy(true);
    try {
      props.onSaved(await props.save(body));
    } catch (err) {
      const issues = issuesByPath(err);
      // an issue deep inside a config value (e.g. steps.1.selector) shows at that value's field
      const placed: Record<string, string> = {};
      for (const [path, text] of Object.entries(issues)) {
        const parts = path.split('.');
        const depth = whole !== null ? 2 : 3; // the one JSON field, or the config key's field
        const at = parts[1] === 'executionConfig' && parts.length > depth ? parts.slice(0, depth).join('.')
          : parts[1] === 'tags' && parts.length > 2 ? 'patch.tags' : path;
        const note = at === path ? text : parts[1] === 'tags' ? `tag ${Number(parts[2]) + 1}: ${text}` : `${parts.slice(depth).join('.')}: ${text}`;
        placed[at] = placed[at] ? `${placed[at]}; ${note}` : note;
      }
      setErrors(placed);
      const list = Object.entries(issues).map(([path, text]) => `${path.replace(/^patch\./, '')}: ${text}`).join('; ');
      setMessage(list ? `The server refused the change — ${list}` : errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  function toWhole() {
    setErrors({});
    setMessage(null);
    const text = JSON.stringify(Object.fromEntries(Object.entries(shape).map(([k, v]) => {
      try { return [k, fromText(cfg[k] ?? '', v)]; } catch { return [k, v]; }
    })), null, 2);
    setWhole(text);
    setWholeBase(text);
  }
  function toSettings() {
    try {
      const parsed = JSON.parse(whole ?? '{}') as JsonValue;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error();
      setShape(parsed);
      setCfg(Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, asText(v)])));
      setWhole(null);
      setErrors({});
      setMessage(null);
    } catch {
      setErrors({ 'patch.executionConfig': 'is not a JSON object: fix it before switching back' });
    }
  }

  const set = (name: string) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>) =>
    setFields((f) => ({ ...f, [name]: e.target.value }));
  return (
    <form className="edit-form" onSubmit={submit} noValidate aria-label={props.heading ?? 'Edit task'}>
      <h3>{props.heading ?? 'Edit before it runs'}</h3>
      <div className="form-grid">
        <Field label="Title" path="patch.title" errors={errors}><input value={fields.title} onChange={set('title')} /></Field>
        <Field label="Description" path="patch.description" errors={errors}><input value={fields.description} onChange={set('description')} /></Field>
        <Field label="Priority" path="patch.priority" errors={errors}>
          <select value={fields.priority} onChange={set('priority')}>
            {['low', 'normal', 'high', 'urgent'].map((o) => <option key={o}>{o}</option>)}
          </select>
        </Field>
        <Field label="Retries allowed" path="patch.maxRetries" errors={errors}>
          <input type="number" value={fields.maxRetries} onChange={set('maxRetries')} />
        </Field>
        <Field label="Timeout (s)" path="patch.timeoutSeconds" errors={errors}>
          <input type="number" value={fields.timeoutSeconds} onChange={set('timeoutSeconds')} />
        </Field>
        <Field label="Scheduled for (local time)" path="patch.scheduledFor" errors={errors} hint="empty: unchanged">
          <input type="datetime-local" value={fields.scheduledFor} onChange={set('scheduledFor')} />
        </Field>
        <Field label="Tags" path="patch.tags" errors={errors} hint="comma-separated">
          <input value={fields.tags} onChange={set('tags')} />
        </Field>
        <Field label="Deadline (local time)" path="patch.deadline" errors={errors} hint="empty: unchanged">
          <input type="datetime-local" value={fields.deadline} onChange={set('deadline')} />
        </Field>
      </div>
      <div className="section-head edit-config-head">
        <h3>Execution config</h3>
        <button type="button" className="link" onClick={() => whole === null ? toWhole() : toSettings()}>
          {whole === null ? 'Edit the whole config as JSON (to add a setting)' : 'Edit setting by setting'}
        </button>
      </div>
      <p className="hint">Secrets read <code>********</code>; leave them so to keep the stored value. Lists and objects are JSON.</p>
      {whole !== null ? (
        <Field label="Config (JSON)" path="patch.executionConfig" errors={errors}>
          <textarea className="mono" rows={Math.max(4, Math.min(16, whole.split('\n').length + 1))} value={whole}
            onChange={(e) => setWhole(e.target.value)} />
        </Field>
      ) : <div className="form-grid">
        {Object.entries(shape).map(([key, old]) => {
          const path = `patch.executionConfig.${key}`;
          const value = cfg[key] ?? '';
          const onChange = (e: React.ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) =>
            setCfg((c) => ({ ...c, [key]: e.target.value }));
          return (
            <Field key={key} label={key} path={path} errors={errors}>
              {old !== null && typeof old === 'object'
                ? <textarea className="mono" rows={Math.min(8, value.split('\n').length)} value={value} onChange={onChange} />
                : <input className={typeof old === 'string' ? undefined : 'mono'} value={value} onChange={onChange} />}
            </Field>
          );
        })}
      </div>}
      {message ? <Alert>{message}</Alert> : null}
      <div className="button-row">
        <button type="submit" className="primary" disabled={busy}>{props.submitLabel ?? 'Save'}</button>
        <button type="button" onClick={props.onClose}>Discard changes</button>
      </div>
    </form>
  );
}
